"""Trainer: photos per person -> face-crop TFRecords -> Keras CNN -> published SavedModel."""
