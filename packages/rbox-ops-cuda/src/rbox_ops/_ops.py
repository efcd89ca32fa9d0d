"""The compiled ops: the one list the builder reads.

Adding an op means its schema in ``csrc/schemas.cpp``; a folder ``csrc/<op>/`` holding
``<op>_cpu.cpp`` (CPU kernel), ``<op>_cuda.cu`` (plain CUDA kernels + ``launch_*``),
``<op>_cuda.cpp`` (CUDA glue) and ``<op>.h``; a Python face ``rbox_ops/<op>.py`` with a
``register_kernels()`` function (fake and autograd registrations); and one line here.

An op that is another op's kernels with a little more (one implementation, not a copy) has its
schema and face but no folder: the host folder's files register it, and ``HOSTED`` names it.
"""

OPS: tuple[str, ...] = (
    "box_iou_rotated",
    "nms_rotated",
    "nms",
    "roi_align_rotated",
    "roi_align",
    "riroi_align_rotated",
    "rotated_feature_align",
    "points_in_polygons",
    "active_rotated_filter",
    "deform_conv2d",
    "convex_iou",
    "min_area_polygons",
    "chamfer_distance",
)


# op -> the folder in OPS whose kernels implement it: modulated_deform_conv2d (DCNv2) is
# deform_conv2d's kernels with a mask and a bias (csrc/deform_conv2d/ registers both)
HOSTED: dict[str, str] = {"modulated_deform_conv2d": "deform_conv2d"}

# every op with a schema and a Python face (register_kernels), in registration order
ALL_OPS: tuple[str, ...] = (*OPS, *HOSTED)
