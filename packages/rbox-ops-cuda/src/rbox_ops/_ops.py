"""The compiled ops: the one list the builder reads.

Adding an op means its schema in ``csrc/schemas.cpp``; a folder ``csrc/<op>/`` holding
``<op>_cpu.cpp`` (CPU kernel), ``<op>_cuda.cu`` (plain CUDA kernels + ``launch_*``),
``<op>_cuda.cpp`` (CUDA glue) and ``<op>.h``; a Python face ``rbox_ops/<op>.py`` with a
``register_kernels()`` function (fake and autograd registrations); and one line here.
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
