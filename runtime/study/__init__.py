"""``facert study``: a blind pairwise user study of restorations (votes in SQLite, Bradley-Terry scores)."""
