"""The contact-map wing: models that predict a window's contact map (``task="contact-map"``, e.g.
ChromNet) rather than a pair's score.

* :mod:`~epizoo.contact.windows`: the windows of a genome layer, their inputs and map targets, the
  chromosome split;
* :mod:`~epizoo.contact.train`: ChromNet's training recipe, and the ``train-contacts`` run folder;
* :mod:`~epizoo.contact.pairs`: scoring enhancer-promoter pairs by their predicted contact;
* :mod:`~epizoo.contact.metrics`: map correlations, insulation, the distance-decay baseline.

The bench runs these models through :mod:`epizoo.bench.contact_tasks`.
"""
