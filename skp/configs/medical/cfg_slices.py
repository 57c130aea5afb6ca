"""Upper or lower half of the head, from 2.5D axial slices of real NIfTI volumes that
nibabel ships: a smoke test of the nifti dataset.

Volumes are reoriented to RAS+ before slicing, so "axial" and "upper" mean the same in
LAS and RAS files; each slice comes with its two neighbours as channels.
"""

from skp.configs import load_config

cfg = load_config("medical.cfg_dicom")

cfg.dataset = "nifti"
cfg.windows = "minmax"  # MR: no physical unit to window; each volume's range
cfg.slice_column = "slice"
cfg.slice_axis = 2  # axial
cfg.slice_context = 1  # slices s-1, s, s+1
cfg.num_input_channels = 3
cfg.num_classes = 2
cfg.annotations_file = "slices_train.csv"
cfg.inference_annotations_file = "slices_test.csv"
cfg.sample_submission_file = "slices_sample_submission.csv"
cfg.solution_file = "slices_solution.csv"
cfg.image_height = 32
cfg.image_width = 32
cfg.num_epochs = 15
