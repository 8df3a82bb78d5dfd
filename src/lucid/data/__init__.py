"""``lucid.data``: reading user image folders, for training and deployment alike.

- `find_layout` (`lucid.data.layouts`) walks a data folder once (`lucid.data.files`: regular
  files only, no hidden files, symlink loops detected) and recognises ``train/ + val/``,
  ``train/ + test/`` or one folder of class folders, or photos labelled otherwise
  (`lucid.data.labels`: named by class, ``train/cat.1.jpg``, Oxford-IIIT Pet's ``images/`` split
  by its lists; or by a CSV table, read by `lucid.data.tables`); `stratified_split` draws the
  seeded held-out split of one folder.
- `load_image` decodes every PIL mode correctly (16-bit grey, palette, alpha, CMYK);
  `infer_image_size` picks a training size from the headers.
- `choose_recipe` / `BatchAugment` / `sample_transform`: augmentation that fits
  the resolution, per batch (cached) or per image (streaming); `preferred_batch`: the batch
  that fits it (large sets of small photos train in batches of 256).
- `CachedImages` (decoded once into uint8 by loader processes, `decode_all`) and
  `StreamingImages`; `verify_images` decodes every file once to name the unreadable ones.
- `default_workers`: how many loader workers a streamed set gets (the cores the training
  threads leave free, at most 8); `worker_context`: they start from a fork server when this
  process holds a serving runtime's threads; `forks_cleanly`: whether plain forked workers may
  be used (`decode_all`); `SeededItems` / `EpochItems`: each training item's random draws
  seeded from (seed, epoch, index), so workers may live for the whole run.
- `digits_datasets` / `DigitsDataset`: the embedded digits set (scikit-learn's), the
  default training data and the default int8 calibration data.
"""

from lucid.data.archives import archive_suffixes, data_folder, is_archive, is_url, local_inputs
from lucid.data.augment import (
    SMALL_PHOTO_BATCH,
    TTA_CHOICES,
    BatchAugment,
    Recipe,
    choose_recipe,
    erased,
    eval_base,
    normalise,
    preferred_batch,
    recipe_tta,
    resized_crops,
    sample_transform,
    shifted_crops,
)
from lucid.data.datasets import (
    CachedImages,
    StreamingImages,
    dataset_size,
    decode_all,
    eval_sample_transform,
    fits_on_device,
    keep_in_memory,
    load_each,
    memory_budget,
    raise_unreadable,
    seeded_subset,
    subset_indices,
    verify_images,
)
from lucid.data.digits import (
    DIGITS_CLASSES,
    DIGITS_INK,
    DIGITS_INTERPOLATION,
    DigitsDataset,
    digits_augment,
    digits_datasets,
)
from lucid.data.files import (
    IMAGE_SUFFIXES,
    TEST_SPLITS,
    TRAIN_SPLITS,
    VAL_SPLITS,
    ClassFiles,
    FolderLayout,
    SplitFiles,
    class_files,
    files_digest,
    held_out_files,
    image_inputs,
    split_files,
    split_folders,
    split_role,
    stratified_split,
    walk_images,
)
from lucid.data.images import (
    SMALL_IMAGE_MAX,
    SizeChoice,
    border_is_light,
    image_size_of,
    infer_image_size,
    load_image,
    normalise_ink,
)
from lucid.data.labels import labelled_layout, listed_folder, name_classes, named_layout, table_layout
from lucid.data.layouts import LAYOUTS, evaluation_folder, find_layout, photo_folder_layout, unwrapped_root
from lucid.data.workers import (
    EpochItems,
    SeededItems,
    default_workers,
    forks_cleanly,
    item_seed,
    start_method,
    worker_context,
)

__all__ = [
    "archive_suffixes",
    "data_folder",
    "is_archive",
    "is_url",
    "local_inputs",
    "EpochItems",
    "SeededItems",
    "item_seed",
    "default_workers",
    "forks_cleanly",
    "start_method",
    "worker_context",
    "DIGITS_CLASSES",
    "DIGITS_INK",
    "DIGITS_INTERPOLATION",
    "DigitsDataset",
    "digits_augment",
    "resized_crops",
    "shifted_crops",
    "erased",
    "digits_datasets",
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "SMALL_IMAGE_MAX",
    "SMALL_PHOTO_BATCH",
    "TTA_CHOICES",
    "BatchAugment",
    "CachedImages",
    "ClassFiles",
    "FolderLayout",
    "Recipe",
    "SizeChoice",
    "SplitFiles",
    "StreamingImages",
    "border_is_light",
    "choose_recipe",
    "recipe_tta",
    "preferred_batch",
    "class_files",
    "dataset_size",
    "seeded_subset",
    "decode_all",
    "verify_images",
    "eval_base",
    "eval_sample_transform",
    "files_digest",
    "find_layout",
    "evaluation_folder",
    "unwrapped_root",
    "named_layout",
    "labelled_layout",
    "TRAIN_SPLITS",
    "VAL_SPLITS",
    "TEST_SPLITS",
    "split_role",
    "listed_folder",
    "photo_folder_layout",
    "table_layout",
    "name_classes",
    "split_folders",
    "held_out_files",
    "image_size_of",
    "infer_image_size",
    "load_image",
    "fits_on_device",
    "keep_in_memory",
    "load_each",
    "memory_budget",
    "normalise",
    "raise_unreadable",
    "subset_indices",
    "normalise_ink",
    "sample_transform",
    "split_files",
    "stratified_split",
    "walk_images",
    "image_inputs",
]
