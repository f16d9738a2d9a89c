"""Task analyses: turn case-level predictions into the ``outcome`` of a run.

One module per task (classification, segmentation, detection) plus what they
share (flow of cases, baseline characteristics, the error-analysis gallery).
They compute with ``validation.stats`` and never render anything.
"""
