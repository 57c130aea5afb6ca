"""Is the volume stored upside down? Whole real NIfTI volumes that nibabel ships, through
a timm ResNet inflated to 3D: a smoke test of nifti3d and classification.net3d.

The flipped files keep their affine, so the label is visible only to a reader that
orients by it: a 3D model on raw voxel order would see half of them as it sees the others.
"""

from skp.configs import load_config

cfg = load_config("medical.cfg_dicom")

cfg.model = "classification.net3d"
cfg.dataset = "nifti3d"
cfg.windows = "minmax"
cfg.volume_shape = (32, 32, 32)  # (D, H, W): a ResNet halves each 5 times
cfg.flip_axes = [1]  # left-right (H of the RAS+ volume cut axially); never D, the label's axis
cfg.num_classes = 2
cfg.annotations_file = "volumes_train.csv"
cfg.inference_annotations_file = "volumes_test.csv"
cfg.sample_submission_file = "volumes_sample_submission.csv"
cfg.solution_file = "volumes_solution.csv"
cfg.train_transforms = None
cfg.val_transforms = None
cfg.batch_size = 4
cfg.num_epochs = 20
