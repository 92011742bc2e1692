"""Readers of the files a store is built from, each behind one interface.

* :mod:`~epizoo.sources.genome`: sequence sources: a whole-genome FASTA (pyfaidx), an
  in-memory genome, pre-extracted regions; and ``LayerSource``, what a genome layer's source fills;
* :mod:`~epizoo.sources.tracks`: ``tracks.yaml`` (cell line -> mark -> bigWig) and the checks of track
  files, shared by ``--signals`` and the genome layer;
* :mod:`~epizoo.sources.signals`: per-pair signal features from feature tables and the
  ``transepi-features`` catalog; :mod:`~epizoo.sources.signal_tracks`: the same from bigWig tracks
  (pyBigWig); :mod:`~epizoo.sources.signal_values`: ``Signals``, what every signal source returns.

Nothing here imports the store: builders (:mod:`epizoo.store`) and datasets read through these.
"""
