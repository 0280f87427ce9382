"""From run records to answers: pandas frames (`frames`), the paired statistics, the verdict, the
label multiplier and its curve fits, convergence and overfitting flags, random-feature controls,
time saved, and the misclassified test images. No torch, no plotting.
"""
