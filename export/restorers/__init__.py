"""Weight-free restorers (ISPL, WIPA) written as torch modules."""
