"""`ReachableTapsConv2d`: the same results as ``nn.Conv2d`` from the kernel taps that reach the map."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lucid.models import ReachableTapsConv2d, create_model, use_reachable_taps


@pytest.mark.parametrize("kernel", [(3, 3), (5, 5), (7, 3)])
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 3), (2, 5), (4, 4), (9, 9)])
@pytest.mark.parametrize("groups", [1, 6])
def test_outputs_and_gradients_are_nn_conv2d_s(kernel: tuple[int, int], size: tuple[int, int], groups: int) -> None:
    torch.manual_seed(0)
    padding = (kernel[0] // 2, kernel[1] // 2)
    plain = nn.Conv2d(6, 6, kernel, padding=padding, groups=groups, bias=True)
    reach = copy.deepcopy(plain)
    assert use_reachable_taps(reach) == 1 and type(reach) is ReachableTapsConv2d
    x = torch.randn(3, 6, *size, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    out, out2 = plain(x), reach(x2)
    torch.testing.assert_close(out2, out, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(out)
    out.backward(grad)
    out2.backward(grad)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reach.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reach.bias.grad, plain.bias.grad)
    # Taps beyond the reach of a map 2H - 1 rows (2W - 1 columns) high get no gradient at all.
    rows = min(kernel[0], 2 * size[0] - 1)
    cut = (kernel[0] - rows) // 2
    if cut:
        assert reach.weight.grad[:, :, :cut].abs().sum() == 0 and reach.weight.grad[:, :, -cut:].abs().sum() == 0


def test_only_stride_one_half_padded_odd_kernels_change() -> None:
    convs = nn.Sequential(
        nn.Conv2d(4, 4, 5, padding=2, groups=4),  # yes
        nn.Conv2d(4, 4, 1),  # 1x1: nothing to cut
        nn.Conv2d(4, 4, 3, stride=2, padding=1),  # strided
        nn.Conv2d(4, 4, 3, padding=2, dilation=2),  # dilated
        nn.Conv2d(4, 4, 3, padding=0),  # not padded by half the kernel
        nn.Conv2d(4, 4, 4, padding=2),  # even kernel
        nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),  # padding that is not zeros
    )
    assert use_reachable_taps(convs) == 1
    assert [type(m).__name__ for m in convs] == ["ReachableTapsConv2d"] + ["Conv2d"] * 6


def test_a_lowres_training_step_is_unchanged_and_checkpoints_see_no_difference() -> None:
    torch.manual_seed(0)
    plain = create_model("mobilenet_v3_small_lowres", num_classes=10).train()
    reach = copy.deepcopy(plain)
    # The eight stride-1 depthwise convolutions; at 32 px the two 5x5 ones on 2x2 maps are cut to 3x3.
    assert use_reachable_taps(reach) == sum(
        isinstance(m, nn.Conv2d) and m.stride == (1, 1) and m.kernel_size[0] > 1 for m in plain.modules()
    )
    assert "ReachableTapsConv2d" not in repr(plain) and list(reach.state_dict()) == list(plain.state_dict())
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    losses = []
    for model in (plain, reach):
        torch.manual_seed(1)  # the classifier's dropout draws the same mask
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[1], losses[0])
    for (name, a), b in zip(plain.named_parameters(), reach.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_convolution_it_would_not_cut_exactly_keeps_its_full_kernel() -> None:
    torch.manual_seed(0)
    strided = ReachableTapsConv2d(4, 4, 5, stride=2, padding=2, groups=4)
    plain = nn.Conv2d(4, 4, 5, stride=2, padding=2, groups=4)
    plain.load_state_dict(strided.state_dict())
    x = torch.randn(2, 4, 2, 2)
    torch.testing.assert_close(strided(x), plain(x))
