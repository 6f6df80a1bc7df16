"""Continual fine-tuning of the latent segmenter from stored frames (docs/finetune.md).

Labels for stored frames (:mod:`.annotations`, :mod:`.importer`), jobs that fine-tune a copy of
a registered segmenter on latents read straight from the blob store (:mod:`.jobs`,
:mod:`.train`), and the model registry with its promotion gate (:mod:`.registry`).
"""
