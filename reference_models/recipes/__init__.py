"""Training recipes for the reference models (torch + MONAI; the only place torch is used).

Run ``python -m reference_models.recipes.train_classifier --out reference_models/lesion-classifier/1``
and ``python -m reference_models.recipes.train_segmenter --out reference_models/lesion-segmenter/1``.
"""
