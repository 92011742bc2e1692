"""The Zarr store: building (:mod:`.build`), opening (:mod:`.io`) and the ``ds.epizoo`` accessor."""
