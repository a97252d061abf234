"""``facert eval``: the papers' synthetic degradation protocol, restoration by every model, PSNR/SSIM."""
