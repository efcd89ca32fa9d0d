// Every op's schema, declared once for all backends (as torchvision's csrc/ops/<op>.cpp).
// This file is the whole of the small `schemas` library, which rbox_ops loads before the
// CPU or CUDA kernels; those only register implementations (TORCH_LIBRARY_IMPL), so either
// loads without the other. Python adds fake kernels and autograd (rbox_ops/<op>.py).
#include <torch/library.h>

TORCH_LIBRARY(rbox_ops, m) {
  // (N, 5) x (M, 5) rotated boxes -> (N, M) overlaps, or (N,) when aligned; mode 0 IoU, 1 IoF
  m.def("box_iou_rotated(Tensor boxes1, Tensor boxes2, int mode, bool aligned) -> Tensor");

  // kept indices into the boxes, by descending score
  m.def("nms_rotated(Tensor dets, Tensor scores, float iou_threshold, Tensor? labels) -> Tensor");
  m.def("nms(Tensor boxes, Tensor scores, float iou_threshold, int offset) -> Tensor");

  // RoI pooling: (R, C, PH, PW) from (B, C, H, W); the backward returns the gradient of input
  m.def(
      "roi_align_rotated(Tensor input, Tensor rois, int pooled_height, int pooled_width, float spatial_scale, "
      "int sampling_ratio, bool aligned, bool clockwise) -> Tensor");
  m.def(
      "roi_align_rotated_backward(Tensor grad_output, Tensor rois, int batch_size, int channels, int height, "
      "int width, int pooled_height, int pooled_width, float spatial_scale, int sampling_ratio, bool aligned, "
      "bool clockwise) -> Tensor");
  m.def(
      "roi_align(Tensor input, Tensor rois, int pooled_height, int pooled_width, float spatial_scale, "
      "int sampling_ratio, bool aligned) -> Tensor");
  m.def(
      "roi_align_backward(Tensor grad_output, Tensor rois, int batch_size, int channels, int height, int width, "
      "int pooled_height, int pooled_width, float spatial_scale, int sampling_ratio, bool aligned) -> Tensor");
  // ReDet's rotation-invariant RoI align: channels are groups of num_orientations, turned by each RoI's angle
  m.def(
      "riroi_align_rotated(Tensor input, Tensor rois, int pooled_height, int pooled_width, float spatial_scale, "
      "int num_samples, int num_orientations, bool clockwise) -> Tensor");
  m.def(
      "riroi_align_rotated_backward(Tensor grad_output, Tensor rois, int batch_size, int channels, int height, "
      "int width, int pooled_height, int pooled_width, float spatial_scale, int num_samples, int num_orientations, "
      "bool clockwise) -> Tensor");

  // R3Det's feature refinement: features (N, C, H, W) + bilinear samples at each pixel's box
  // best_rbboxes (N, H, W, 5); points 1 or 5. The backward returns the gradient of features
  m.def("rotated_feature_align(Tensor features, Tensor best_rbboxes, float spatial_scale, int points) -> Tensor");
  m.def(
      "rotated_feature_align_backward(Tensor grad_output, Tensor best_rbboxes, float spatial_scale, int points) "
      "-> Tensor");

  // (N, 2) points x (M, 8) quadrilaterals -> (N, M) float32, 1 inside, 0 outside (mmcv's rule)
  m.def("points_in_polygons(Tensor points, Tensor polygons) -> Tensor");

  // the R rotated copies of oriented filters: (O, I, nOrientation, kH, kW) with indices (nOrientation, kH, kW, R)
  // -> (O * R, I * nOrientation, kH, kW); the backward returns the gradient of input
  m.def("active_rotated_filter(Tensor input, Tensor indices) -> Tensor");
  m.def("active_rotated_filter_backward(Tensor grad_output, Tensor indices) -> Tensor");

  // deformable convolution (mmcv's offset layout): (N, C_out, H_out, W_out); the backward returns the
  // gradients of input, offset and weight
  m.def(
      "deform_conv2d(Tensor input, Tensor offset, Tensor weight, int stride_h, int stride_w, int pad_h, int pad_w, "
      "int dilation_h, int dilation_w, int groups, int deform_groups) -> Tensor");
  m.def(
      "deform_conv2d_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor weight, int stride_h, "
      "int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, int groups, int deform_groups) "
      "-> (Tensor, Tensor, Tensor)");
  // modulated deformable convolution (DCNv2, mmcv's mask layout), deform_conv2d's kernels with a mask
  // (N, deform_groups * kh * kw, H_out, W_out) scaling each sample and an optional bias (C_out,); the
  // backward returns the gradients of input, offset, mask and weight (the bias's is a sum, in Python)
  m.def(
      "modulated_deform_conv2d(Tensor input, Tensor offset, Tensor mask, Tensor weight, Tensor? bias, "
      "int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, int groups, "
      "int deform_groups) -> Tensor");
  m.def(
      "modulated_deform_conv2d_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor mask, "
      "Tensor weight, int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, "
      "int groups, int deform_groups) -> (Tensor, Tensor, Tensor, Tensor)");

  // point sets (the RepPoints family), float64 arithmetic: (N, 18) hulls x (K, 8) polygons -> (N, K) IoU;
  // aligned (N, 18) x (N, 8) -> (N, 19): d GIoU / d points (18), then GIoU; (N, 2k) -> (N, 8) rectangles
  m.def("convex_iou(Tensor pointsets, Tensor polygons) -> Tensor");
  m.def("convex_giou(Tensor pointsets, Tensor polygons) -> Tensor");
  m.def("min_area_polygons(Tensor pointsets) -> Tensor");

  // (B, N, 2) x (B, M, 2) -> dist1 (B, N), dist2 (B, M), idx1, idx2 int32; the backward returns the
  // gradients of xyz1 and xyz2
  m.def("chamfer_distance(Tensor xyz1, Tensor xyz2) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "chamfer_distance_backward(Tensor xyz1, Tensor xyz2, Tensor idx1, Tensor idx2, Tensor grad_dist1, "
      "Tensor grad_dist2) -> (Tensor, Tensor)");
}
