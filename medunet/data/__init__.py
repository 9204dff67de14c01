"""Datasets: layouts of real data on disk (brain tumour MRI, cell microscopy), splits and safe writes."""
