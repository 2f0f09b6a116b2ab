"""The high-quality stage: enhancers (Real-ESRGAN, GFPGAN, CodeFormer) applied to the region a
sync engine regenerated, composited back and stabilised over time."""
