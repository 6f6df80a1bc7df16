"""Data sets (CamVid, Cityscapes, plain folders, synthetic scenes) and patch sampling."""
