"""One photo, one model input: a photo with an EXIF rotation, a 16-bit grey PNG and a transparent
PNG give the same model input and the same outputs through the checkpoint (``lucid predict
CKPT``), ONNX Runtime, OpenVINO and ExecuTorch (``Predictor``), for every task: a classifier's
probabilities and labels, a segmenter's logits and masks, a detector's boxes and scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lucid.deploy import Predictor, export
from lucid.train import predict
from lucid.train.predict import load_images

pytestmark = pytest.mark.usefixtures("one_thread")


def tricky_photos(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rotated = folder / "rotated.jpg"  # stored landscape, shown portrait (EXIF orientation 6)
    pixels = np.zeros((24, 40, 3), dtype=np.uint8)
    pixels[:, :8] = 255  # a bar on the stored left: on top once rotated
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(rotated, exif=exif, quality=95)
    grey16 = folder / "grey16.png"
    ramp = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
    Image.fromarray(ramp).save(grey16)
    alpha = folder / "alpha.png"
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red under transparency: must not show
    rgba[8:24, 8:24, 3] = 255
    rgba[8:24, 8:24, :3] = 10
    Image.fromarray(rgba, mode="RGBA").save(alpha)
    return [rotated, grey16, alpha]


@pytest.fixture(scope="module")
def exports(trained_digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("same-input")
    files = {}
    for name, fmt in (("model.onnx", "onnx"), ("model.xml", "openvino"), ("model.pte", "executorch")):
        files[fmt] = export(trained_digits.checkpoint, folder / name, fmt).path
    return folder, files


def test_every_runtime_sees_the_same_input_and_gives_the_same_probabilities(trained_digits, exports):
    folder, files = exports
    photos = [str(p) for p in tricky_photos(folder / "photos")]
    eager = predict(trained_digits.checkpoint, photos, topk=10)
    for fmt, path in files.items():
        backend = {"onnx": "onnxruntime", "openvino": "openvino", "executorch": "executorch"}[fmt]
        predictor = Predictor(path, backend=backend)
        batch = predictor.preprocess(photos)
        ranked = predictor.predict(photos, topk=10)
        for mine, theirs in zip(eager, ranked, strict=True):
            assert [label for label, _ in mine][:1] == [label for label, _ in theirs][:1], fmt
            np.testing.assert_allclose(sorted(p for _, p in mine), sorted(p for _, p in theirs), atol=2e-4, err_msg=fmt)
        assert batch.shape[0] == len(photos)


def test_the_exported_preprocessing_equals_the_checkpoints(trained_digits, exports):
    from lucid.data import eval_sample_transform
    from lucid.models.resolve import resolve
    from lucid.preprocessing import resize_size_for
    from lucid.train.evaluate import crop_side

    folder, files = exports
    photos = [str(p) for p in tricky_photos(folder / "photos2")]
    prep = resolve(trained_digits.checkpoint).preprocessing
    size = crop_side(prep)
    transform = eval_sample_transform(size, prep.resize_size or resize_size_for(size), list(prep.mean), list(prep.std))
    checkpoint_input = load_images(photos, transform, channels=prep.in_channels, ink=prep.ink)
    exported_input = torch.from_numpy(Predictor(files["onnx"], backend="onnxruntime").preprocess(photos))
    torch.testing.assert_close(exported_input, checkpoint_input, atol=1e-5, rtol=0)
    # the rotation is applied: the bar stored on the left is on top of what the model sees
    rotated = checkpoint_input[0, 0]
    assert rotated[: size // 4].mean() > rotated[-size // 4 :].mean()


def test_segmentation_reads_each_photo_as_the_one_decoder_does(tmp_path):
    """Segmentation (training, eval, predict, calibration) decodes through the same reader: the
    EXIF rotation applied, 16-bit grey scaled rather than clipped to white, alpha over white."""
    from lucid.preprocessing import read_image
    from lucid.segment.data import read_rgb
    from lucid.segment.task import as_rgb_tensor

    rotated, grey16, alpha = tricky_photos(tmp_path)
    for photo in (rotated, grey16, alpha):
        expected = read_image(photo, 3)
        assert torch.equal(read_rgb(photo), expected), photo.name
        with Image.open(photo) as opened:
            assert torch.equal(as_rgb_tensor(opened), expected), photo.name
    assert tuple(read_rgb(rotated).shape) == (3, 40, 24)  # upright
    assert 100 < read_rgb(grey16).float().mean() < 155  # a ramp, not all white
    assert read_rgb(alpha)[0, 0, 0] == 255 and read_rgb(alpha)[1, 0, 0] == 255  # white, not the hidden red


def test_segmentation_pairs_follow_the_photo_orientation(tmp_path):
    from lucid.errors import DataError
    from lucid.segment.data import read_pair, read_rgb

    rotated = tricky_photos(tmp_path)[0]
    upright_mask, stored_mask, other_mask = tmp_path / "up.png", tmp_path / "stored.png", tmp_path / "other.png"
    Image.fromarray(np.ones((40, 24), np.uint8)).save(upright_mask)  # drawn on the photo as shown
    Image.fromarray(np.ones((24, 40), np.uint8)).save(stored_mask)  # drawn by a tool that ignores EXIF
    Image.fromarray(np.ones((10, 10), np.uint8)).save(other_mask)
    image, mask = read_pair(rotated, upright_mask)
    assert tuple(image.shape) == (3, 40, 24) and tuple(mask.shape) == (40, 24)
    image, mask = read_pair(rotated, stored_mask)
    assert torch.equal(image, read_rgb(rotated, exif=False)) and tuple(mask.shape) == (24, 40)
    with pytest.raises(DataError, match=r"other.png: mask is 10x10 but its image rotated.jpg is 24x40"):
        read_pair(rotated, other_mask)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_a_segmentation_export_sees_the_photos_as_the_checkpoint_does(tmp_path, fmt):
    """The odd photos through the model and through its exported file: every mask has the photo's
    upright size (a path given to `Predictor` goes through the one reader too) and the masks agree.
    The pixel values themselves are checked by `test_segmentation_reads_each_photo_as_the_one_decoder_does`
    (this untrained model's masks are nearly constant)."""
    from lucid.deploy.runtime import available
    from lucid.models import lraspp_mobilenet_v3_small
    from lucid.preprocessing import read_image
    from lucid.segment import predict_masks

    if not available({"onnx": "onnxruntime", "openvino": "openvino"}[fmt]):
        pytest.skip(f"{fmt} runtime not installed")
    torch.manual_seed(0)
    model = lraspp_mobilenet_v3_small(num_classes=3).eval()
    checkpoint = tmp_path / "seg.safetensors"
    import lucid

    lucid.save(model, checkpoint)
    exported = export(str(checkpoint), tmp_path / f"seg.{'xml' if fmt == 'openvino' else 'onnx'}", fmt).path
    photos = tricky_photos(tmp_path / "photos")
    records = predict_masks(str(checkpoint), photos, tmp_path / "masks")
    masks = Predictor(exported).predict([str(p) for p in photos])
    for photo, record, mask in zip(photos, records, masks, strict=True):
        with Image.open(record["mask"]) as saved:
            expected = np.asarray(saved)
        assert expected.shape == mask.shape == read_image(photo).shape[-2:], photo.name  # upright in both
        assert (expected != mask).mean() < 0.01, photo.name


BACKENDS = {"onnx": "onnxruntime", "openvino": "openvino", "executorch": "executorch"}
SUFFIXES = {"onnx": "onnx", "openvino": "xml", "executorch": "pte"}


def random_export(build, folder: Path, fmt: str):
    """``build()``'s model with randomised BatchNorm statistics (outputs that vary), saved as a
    checkpoint and exported to ``fmt``: ``(model, Predictor on the file)``; skips without the runtime."""
    import lucid
    from lucid.deploy.runtime import available
    from reference_helpers import randomise_batchnorm

    if not available(BACKENDS[fmt]):
        pytest.skip(f"{BACKENDS[fmt]} not installed")
    torch.manual_seed(0)
    model = randomise_batchnorm(build(), seed=1)
    checkpoint = lucid.save(model, folder / "model.safetensors")
    exported = export(str(checkpoint), folder / f"model.{SUFFIXES[fmt]}", fmt).path
    return model, Predictor(exported, backend=BACKENDS[fmt])


@pytest.mark.parametrize("fmt", ["onnx", "openvino", pytest.param("executorch", marks=pytest.mark.slow)])  # ~23 s
def test_a_segmentation_export_gets_the_checkpoints_input_and_gives_its_logits(tmp_path, fmt):
    """The odd photos as model inputs: what `Predictor` feeds each runtime equals what the
    checkpoint's own path (`lucid.segment.infer.predict_mask`) feeds the eager model (a fixed-size
    ExecuTorch file: the same photo resized to its size), and every runtime's logits equal the
    eager model's on it. The BatchNorm statistics are randomised so the logits vary per pixel."""
    from torchvision.transforms import v2

    from lucid.models import lraspp_mobilenet_v3_small
    from lucid.segment.data import read_rgb
    from lucid.segment.infer import segmentation_meta

    model, predictor = random_export(lambda: lraspp_mobilenet_v3_small(num_classes=3), tmp_path, fmt)
    meta = segmentation_meta(model)
    fixed = predictor.input_shape[2:] if all(isinstance(d, int) for d in predictor.input_shape[2:]) else None
    for photo in tricky_photos(tmp_path / "photos"):
        image = read_rgb(photo)  # upright, 16-bit scaled, alpha composited: the checkpoint's reader
        if fixed is not None:
            image = v2.functional.resize(image, list(fixed), antialias=True)
        expected = v2.functional.normalize(
            v2.functional.to_dtype(image, torch.float32, scale=True), meta["mean"], meta["std"]
        )
        ((batch, options),) = predictor.task_handler.prepare_batches(
            str(photo), predictor.preprocessing, predictor.input_shape
        )
        torch.testing.assert_close(torch.from_numpy(batch)[0], expected, atol=1e-5, rtol=0)
        assert tuple(options["size"]) == tuple(read_rgb(photo).shape[-2:]), photo.name
        with torch.no_grad():
            eager = model(expected[None]).numpy()
        logits = np.asarray(predictor.runtime.run_all(batch)[0])
        assert eager.std() > 0.05, "the test model's logits should vary"
        np.testing.assert_allclose(
            logits, eager, atol=1e-4 * np.abs(eager).max(), rtol=0, err_msg=f"{fmt} {photo.name}"
        )


# ExecuTorch's lowering of SSDLite takes about 30 s: that case runs with -m slow (the same
# preprocessing is checked through ONNX Runtime and OpenVINO here).
@pytest.mark.parametrize("fmt", ["onnx", "openvino", pytest.param("executorch", marks=pytest.mark.slow)])
def test_a_detection_export_gets_the_checkpoints_input_and_gives_its_outputs(tmp_path, fmt):
    """The odd photos through a detector: `Predictor`'s input for each runtime equals the eager
    model's own (`SSDLite.preprocess` on the one reader's pixels: upright, 16-bit scaled, alpha
    composited), each with the photo's upright size for the boxes, and every runtime's boxes and
    scores equal the eager `forward_raw`'s."""
    from lucid.models.ssdlite import ssdlite320_mobilenet_v3_small
    from lucid.preprocessing import read_image

    model, predictor = random_export(lambda: ssdlite320_mobilenet_v3_small(num_classes=3), tmp_path, fmt)
    for photo in tricky_photos(tmp_path / "photos"):
        pixels = read_image(photo, 3)  # as `lucid predict CKPT` and training read it
        expected, sizes = model.preprocess([pixels.float() / 255])
        ((batch, options),) = predictor.task_handler.prepare_batches(
            str(photo), predictor.preprocessing, predictor.input_shape
        )
        torch.testing.assert_close(torch.from_numpy(batch), expected, atol=1e-5, rtol=0)
        assert list(options["sizes"]) == sizes == [tuple(pixels.shape[-2:])], photo.name
        with torch.no_grad():
            eager = [t.numpy() for t in model.forward_raw(expected)]
        outputs = [np.asarray(o) for o in predictor.runtime.run_all(batch)]
        assert eager[1].std() > 1e-3, "the test model's scores should vary"
        for name, mine, theirs in zip(("boxes", "scores"), outputs, eager, strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-4 * np.abs(theirs).max(), rtol=0, err_msg=f"{fmt} {name}")
