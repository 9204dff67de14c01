"""Data: the embedded synthetic datasets and their writers.

- :mod:`medunet.data.synthetic`: the public entry points (``make_cells``, ``write_cell_dataset``,
  ``make_brain_tumor_cases``, ``write_msd_dataset``, ``write_brats_dataset``);
- :mod:`medunet.data.synthetic.cells`, :mod:`medunet.data.synthetic.brain`: the two generators;
- :mod:`medunet.data.synthetic.fields`: smooth random fields;
- :mod:`medunet.data.io`: atomic NIfTI / TIFF / JSON writers.
"""
