"""Models from local files: ClipModel, the classifier loader, the taggers (prime_rs.vision).

Real models only: a tiny random-weight open_clip architecture saved to a file and loaded
through ClipModel.load; a tiny CNN saved as a state dict, as TorchScript and with
torch.export, and built by a package.module:factory; a torchvision ResNet-18 with random
weights; and EfficientNet-Lite0 itself on the sample photos shipped with scikit-image,
scikit-learn and matplotlib. Recognize Anything is not on PyPI: without it, the ram tagger
must say how to install it; its adapter is checked on a stand-in module with RAM's
interface (the real library was checked by hand, see docs/vision.md).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("torch", reason="the vision extra (torch) is not installed")
pytest.importorskip("open_clip", reason="the vision extra (open_clip) is not installed")

import torch
from PIL import Image

from prime_rs import InputError, ParameterError
from prime_rs.vision import MissingDependency
from prime_rs.vision.classifier import load_classifier, read_class_names
from prime_rs.vision.clip import ClipModel
from prime_rs.vision.images import Preprocess, load_image
from prime_rs.vision.sources import open_images
from prime_rs.vision.taggers import (
    ClipTagger,
    RamTagger,
    Selection,
    apply_selection,
    candidates_from_scores,
    load_tagger,
)
from prime_rs.vision.testing import (
    TINY_CLIP_CONFIG,
    TinyClip,
    make_image_folder,
    make_tiny_clip,
    save_tiny_cnn,
)
from prime_rs.vision.vocabulary import BUILTIN, Group, flatten, read_vocabulary


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real photographs shipped inside scikit-image, scikit-learn and matplotlib."""
    import matplotlib.cbook
    import sklearn.datasets
    from skimage import data as skimage_data

    folder = tmp_path_factory.mktemp("photos")
    arrays = {
        "coffee": skimage_data.coffee(),
        "chelsea": skimage_data.chelsea(),
        "rocket": skimage_data.rocket(),
        "china": sklearn.datasets.load_sample_image("china.jpg"),
        "flower": sklearn.datasets.load_sample_image("flower.jpg"),
    }
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        arrays["grace_hopper"] = np.asarray(Image.open(f).convert("RGB"))
    out = {}
    for name, arr in arrays.items():
        out[name] = folder / f"{name}.jpg"
        Image.fromarray(arr).save(out[name], quality=95)
    return out


# -- ClipModel -----------------------------------------------------------------------------


def test_clip_model_id_is_stable_and_follows_the_weights(tmp_path: Path, tiny: TinyClip) -> None:
    again = make_tiny_clip(tmp_path / "same", seed=0)
    other = make_tiny_clip(tmp_path / "other", seed=1)
    load = ClipModel.load
    a = load(tiny.model_name, tiny.checkpoint, device="cpu", model_config=tiny.config)
    b = load(again.model_name, again.checkpoint, device="cpu", model_config=again.config)
    c = load(other.model_name, other.checkpoint, device="cpu", model_config=other.config)
    assert a.model_id == b.model_id != c.model_id
    assert a.model_id.startswith("tiny-clip+") and "@" in a.model_id


def test_embed_texts(clip: ClipModel) -> None:
    e = clip.embed_texts(["a photo of a dog", "a photo of a cat", "a photo of a dog"])
    assert e.dtype == np.float32 and e.shape == (3, TINY_CLIP_CONFIG["embed_dim"])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(e[0], e[2])
    assert not np.allclose(e[0], e[1])
    assert clip.embed_texts([]).shape == (0, 32)
    with pytest.raises(ParameterError, match="not one string"):
        clip.embed_texts("a dog")


def test_embed_images_matches_open_clip(clip: ClipModel, tmp_path: Path) -> None:
    """Our uint8 pipeline + on-device normalisation == open_clip's own preprocessing."""
    import open_clip
    from open_clip.transform import PreprocessCfg, image_transform_v2

    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate([(40, 30), (30, 50), (100, 100), (33, 77), (7, 5)]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    ours = clip.embed_images(paths, batch_size=2, progress=False)
    transform = image_transform_v2(
        PreprocessCfg(**open_clip.get_model_preprocess_cfg(clip.model)), is_train=False
    )
    x = torch.stack([transform(Image.open(p)) for p in paths])
    with torch.no_grad():
        reference = torch.nn.functional.normalize(clip.model.encode_image(x), dim=-1).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    # An ImageSource works as well, in its order.
    source = open_images(make_image_folder(tmp_path / "set", {"a": 2, "b": 1}))
    assert clip.embed_images(source, progress=False).shape == (3, 32)


def test_embed_images_names_unreadable_images(clip: ClipModel, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (10, 10)).save(good)
    (tmp_path / "bad.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"1 of 2 images cannot be read: .*bad.png: empty file"):
        clip.embed_images([good, tmp_path / "bad.png"], progress=False)


def test_clip_load_errors(tiny: TinyClip, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="checkpoint file not found"):
        ClipModel.load("ViT-B-32", tmp_path / "missing.pt", device="cpu")
    with pytest.raises(InputError, match="not an open_clip architecture; did you mean ViT-B-32"):
        ClipModel.load("ViT-B-3", tiny.checkpoint, device="cpu")
    with pytest.raises(InputError, match="cannot load these weights into ViT-B-32"):
        ClipModel.load("ViT-B-32", tiny.checkpoint, device="cpu")
    bad_config = tmp_path / "bad.json"
    bad_config.write_text('{"embed_dim": 8}')
    with pytest.raises(InputError, match="missing vision_cfg, text_cfg"):
        ClipModel.load("x", tiny.checkpoint, device="cpu", model_config=bad_config)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"garbage\.pt"):
        ClipModel.load(tiny.model_name, garbage, device="cpu", model_config=tiny.config)
    with pytest.raises(ParameterError, match="--device must be"):
        ClipModel.load(tiny.model_name, tiny.checkpoint, device="gpu", model_config=tiny.config)


def test_cuda_request_without_gpu_is_clear(tiny: TinyClip) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the message for a missing one cannot be seen")
    with pytest.raises(ParameterError, match="no CUDA GPU is available here"):
        ClipModel.load(tiny.model_name, tiny.checkpoint, device="cuda", model_config=tiny.config)


# -- vocabulary and the clip tagger -------------------------------------------------------


def test_builtin_vocabulary() -> None:
    names = [g.name for g in BUILTIN]
    assert names == ["objects", "scenes", "colours", "materials", "actions", "conditions"]
    tags = flatten(BUILTIN)
    assert len(tags) == len(set(tags)) > 500
    assert {"dog", "beach", "red", "wood", "running", "blurry"} <= set(tags)
    for group in BUILTIN:
        assert all("{}" in t for t in group.templates)
        assert all(t == t.strip() and t for t in group.tags)


def test_read_vocabulary(tmp_path: Path) -> None:
    p = tmp_path / "v.txt"
    p.write_text("# my tags\nsnow\n\nfog\n[colours]\nred\n[weird]\nglow\n")
    groups = read_vocabulary(p)
    assert [(g.name, g.tags) for g in groups] == [
        ("tags", ("snow", "fog")),
        ("colours", ("red",)),
        ("weird", ("glow",)),
    ]
    assert groups[1].templates == BUILTIN[2].templates  # a built-in group's prompts
    p.write_text("snow\nfog\nsnow\n")
    with pytest.raises(InputError, match="'snow' is on lines 1 and 3"):
        read_vocabulary(p)
    p.write_text("# nothing\n")
    with pytest.raises(InputError, match="no tags"):
        read_vocabulary(p)


def test_clip_tagger_scores_are_a_prompt_ensemble_softmax_per_group(clip: ClipModel) -> None:
    groups = [
        Group("animals", ("dog", "cat", "horse"), ("a photo of a {}.", "a drawing of a {}.")),
        Group("colours", ("red", "blue")),
    ]
    tagger = ClipTagger(clip, groups, selection=Selection(top_k=2))
    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (3, 3, 32, 32))).to(
        torch.uint8
    )
    scores = tagger.scores(pixels)
    # Independent computation from the public embeddings.
    image = clip.encode_pixels(pixels).numpy()
    expected = []
    for g in groups:
        text = []
        for tag in g.tags:
            mean = clip.embed_texts(g.prompts(tag)).mean(axis=0)
            text.append(mean / np.linalg.norm(mean))
        logits = clip.logit_scale * image @ np.array(text).T
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected.append(e / e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(scores, np.concatenate(expected, axis=1), atol=1e-5)
    out = tagger({"pixels": pixels.numpy()})
    assert [len(t) for t in out["tags"]] == [2, 2, 2]
    assert all(list(c[:2]) == list(t) for c, t in zip(out["candidates"], out["tags"], strict=True))


# -- selection -----------------------------------------------------------------------------


def test_candidates_are_sorted_and_floored() -> None:
    tags, scores = candidates_from_scores(
        np.array([[0.2, 0.5, 0.2, 0.001], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32),
        ["a", "b", "c", "d"],
        0.01,
    )
    assert tags == [["b", "a", "c"], []]  # ties keep vocabulary order
    assert scores[0] == pytest.approx([0.5, 0.2, 0.2])


def test_selection_rules() -> None:
    table = pl.DataFrame(
        {
            "id": [1, 2, 3],
            "candidates": [["a", "b", "c"], ["c"], []],
            "candidate_scores": [[0.9, 0.5, 0.5], [0.7], []],
        },
        schema_overrides={"candidate_scores": pl.List(pl.Float32)},
    )

    def tags(selection: Selection) -> list[list[str]]:
        return apply_selection(table, selection)["tags"].to_list()

    assert tags(Selection(threshold=0.5)) == [["a", "b", "c"], ["c"], []]
    assert tags(Selection(threshold=0.5, strict=True)) == [["a"], ["c"], []]
    assert tags(Selection(threshold=0.1, top_k=2)) == [["a", "b"], ["c"], []]
    per_tag = {"a": 0.95, "b": 0.4, "c": 0.6}
    assert tags(Selection(per_tag=per_tag)) == [["b"], ["c"], []]
    assert tags(Selection(per_tag=per_tag, threshold=0.8)) == [["a"], [], []]  # override
    assert tags(Selection(per_tag={"a": 0.95}, default=0.6)) == [[], ["c"], []]
    out = apply_selection(table, Selection(threshold=0.5, top_k=1))
    assert out.columns == ["id", "candidates", "candidate_scores", "tags", "tag_scores"]
    assert out["tag_scores"].to_list() == [[pytest.approx(0.9)], [pytest.approx(0.7)], []]
    with pytest.raises(ParameterError, match="top_k"):
        Selection(top_k=0)
    with pytest.raises(ParameterError, match="threshold"):
        Selection(threshold=1.5)


# -- classifiers ---------------------------------------------------------------------------


def _batch(size: int = 32, n: int = 4) -> torch.Tensor:
    rng = np.random.default_rng(3)
    return torch.from_numpy(rng.integers(0, 255, (n, 3, size, size), dtype=np.uint8))


def test_one_cnn_in_every_file_form(tmp_path: Path) -> None:
    """State dict + factory, TorchScript, torch.export and a bare factory agree exactly."""
    pre = Preprocess(size=32)
    names = ["cat", "dog", "fox"]
    state = save_tiny_cnn(tmp_path / "cnn_state.pt", kind="state_dict", seed=5)
    script = save_tiny_cnn(tmp_path / "cnn.ts", kind="torchscript", seed=5)
    exported = save_tiny_cnn(tmp_path / "cnn.pt2", kind="export", seed=5)
    factory = "prime_rs.vision.testing:tiny_cnn"
    loaded = [
        load_classifier(factory, weights=state, classes=names, preprocess=pre, device="cpu"),
        load_classifier(str(script), classes=names, preprocess=pre, device="cpu"),
        load_classifier(str(exported), classes=names, preprocess=pre, device="cpu"),
    ]
    probs = [c.probabilities(_batch()) for c in loaded]
    for p in probs[1:]:
        np.testing.assert_allclose(p, probs[0], atol=1e-6)
    np.testing.assert_allclose(probs[0].sum(axis=1), 1.0, rtol=1e-5)
    assert "TorchScript" in loaded[1].description and "torch.export" in loaded[2].description
    # The factory alone gives its own (seed 0) weights, not the saved ones.
    bare = load_classifier(factory, classes=names, preprocess=pre, device="cpu")
    assert not np.allclose(bare.probabilities(_batch()), probs[0])
    out = loaded[0]({"pixels": _batch().numpy()})
    assert out["prediction"].dtype == np.int64 and out["confidence"].dtype == np.float32


def test_classifier_load_errors(tmp_path: Path) -> None:
    state = save_tiny_cnn(tmp_path / "cnn_state.pt", kind="state_dict")
    with pytest.raises(InputError, match=r"holds weights .* --weights"):
        load_classifier(str(state), device="cpu")
    with pytest.raises(InputError, match="give its weights file with --weights"):
        load_classifier("resnet18", device="cpu")
    with pytest.raises(InputError, match="did you mean resnet18"):
        load_classifier("resnet81", device="cpu")
    with pytest.raises(InputError, match="do not fit resnet18"):
        load_classifier("resnet18", weights=state, device="cpu")
    with pytest.raises(
        InputError, match=r"cannot import 'no_such_pkg.models' .No module named 'no_such_pkg'"
    ):
        load_classifier("no_such_pkg.models:build", device="cpu")
    with pytest.raises(InputError, match="has no 'nothing'"):
        load_classifier("prime_rs.vision.testing:nothing", device="cpu")
    wrong = load_classifier(
        str(save_tiny_cnn(tmp_path / "c.ts", kind="torchscript")),
        classes=["a", "b"],
        preprocess=Preprocess(size=32),
        device="cpu",
    )
    with pytest.raises(InputError, match="gives 3 scores per image but there are 2 class names"):
        wrong.probabilities(_batch())


def test_class_names_file(tmp_path: Path) -> None:
    p = tmp_path / "classes.txt"
    p.write_text("cat\ndog\n\n")
    assert read_class_names(p) == ["cat", "dog"]
    p.write_text("cat\n\ndog\n")
    with pytest.raises(InputError, match="line 2 is blank"):
        read_class_names(p)
    p.write_text("cat\ndog\ncat\n")
    with pytest.raises(InputError, match="'cat' is on lines 1 and 3"):
        read_class_names(p)


def test_torchvision_architecture_with_local_weights(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    full = torchvision.models.resnet18(num_classes=1000)
    torch.save(full.state_dict(), tmp_path / "resnet18.pth")
    c = load_classifier("resnet18", weights=tmp_path / "resnet18.pth", device="cpu")
    assert c.preprocess == Preprocess(size=224, resize=256, interpolation="bilinear")
    assert c.classes is not None and c.classes[0] == "tench" and len(c.classes) == 1000
    x = _batch(224, 2)
    reference = full.eval()(
        (x.float() / 255 - torch.tensor(c.preprocess.mean).view(1, 3, 1, 1))
        / torch.tensor(c.preprocess.std).view(1, 3, 1, 1)
    )
    np.testing.assert_allclose(
        c.probabilities(x), torch.softmax(reference, 1).detach().numpy(), atol=1e-5
    )
    # A fine-tuned checkpoint (3 classes): the head size comes from the weights.
    tuned = torchvision.models.resnet18(num_classes=3)
    torch.save(tuned.state_dict(), tmp_path / "tuned.pth")
    c3 = load_classifier(
        "resnet18", weights=tmp_path / "tuned.pth", device="cpu", fallback_classes=["a", "b", "c"]
    )
    assert c3.classes == ["a", "b", "c"] and "3 classes" in c3.description
    assert c3.probabilities(x).shape == (2, 3)


def test_efficientnet_lite0_on_real_photos(photos: dict[str, Path]) -> None:
    """The default tagger's model, offline, says what a person sees in the sample photos."""
    c = load_classifier("efficientnet_lite0", device="cpu")
    assert c.classes is not None
    pixels = torch.stack([c.preprocess(load_image(p)) for p in photos.values()])
    probs = c.probabilities(pixels)
    top5 = {
        name: [c.classes[i] for i in np.argsort(-probs[k])[:5]] for k, name in enumerate(photos)
    }
    assert top5["coffee"][0] == "espresso" and "cup" in top5["coffee"]
    assert set(top5["chelsea"][:3]) <= {"tabby", "tiger cat", "Egyptian cat"}
    assert {"missile", "projectile", "space shuttle"} & set(top5["rocket"])
    assert {"palace", "monastery", "pagoda", "bell cote"} & set(top5["china"][:2])
    assert "daisy" in top5["flower"]
    assert "military uniform" in top5["grace_hopper"]


def test_classifier_tagger_on_real_photos(photos: dict[str, Path]) -> None:
    tagger = load_tagger("classifier", device="cpu")
    assert tagger.selection == Selection(threshold=0.05, top_k=5)
    x = torch.stack([tagger.preprocess(load_image(photos[n])) for n in ("coffee", "chelsea")])
    out = tagger({"pixels": x.numpy()})
    assert out["tags"][0][0] == "espresso"
    assert "tiger cat" in out["tags"][1] and len(out["tags"][1]) <= 5
    assert all(s >= 0.05 for s in out["tag_scores"][1])
    assert all(s >= 0.01 for s in out["candidate_scores"][0])


def test_load_tagger_checks_its_options(tiny: TinyClip) -> None:
    with pytest.raises(ParameterError, match=r"needs --model-name .* and --checkpoint"):
        load_tagger("clip", device="cpu")
    with pytest.raises(ParameterError, match="do not apply to the classifier tagger"):
        load_tagger("classifier", vocabulary="v.txt", device="cpu")
    with pytest.raises(ParameterError, match="below --floor"):
        load_tagger("classifier", threshold=0.001, floor=0.01, device="cpu")
    with pytest.raises(ParameterError, match="--tagger must be one of"):
        load_tagger("blip", device="cpu")


# -- Recognize Anything ----------------------------------------------------------------------


@pytest.fixture
def no_ram(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make sure ``import ram`` fails, whatever is installed."""
    for name in list(sys.modules):
        if name == "ram" or name.startswith("ram."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ram", None)
    yield


@pytest.mark.usefixtures("no_ram")
@pytest.mark.parametrize("kind", ["ram", "ram_plus"])
def test_ram_without_the_package_says_how_to_install(tmp_path: Path, kind: str) -> None:
    ckpt = tmp_path / "ram.pth"
    ckpt.write_bytes(b"x")
    with pytest.raises(MissingDependency) as e:
        load_tagger(kind, checkpoint=ckpt, device="cpu")
    message = str(e.value)
    assert "recognize-anything" in message and "not on PyPI" in message
    assert "pip install git+https://github.com/xinyu1205/recognize-anything.git" in message


class FakeRam(torch.nn.Module):
    """A stand-in with the interface RamTagger uses: ``tag_list``, ``class_threshold``,
    ``delete_tag_index``, a tagging head ``fc`` and ``generate_tag``, whose thresholding is
    RAM's own code (``sigmoid(logits) > class_threshold``, tags joined with ' | ')."""

    def __init__(self, n_tags: int = 6) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.tag_list = np.array([f"tag{i}" for i in range(n_tags)])
        self.class_threshold = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.65, 0.5][:n_tags])
        self.delete_tag_index: list[int] = []
        self.features = torch.nn.Linear(3, 8)
        self.fc = torch.nn.Linear(8, 1)
        self.queries = torch.nn.Parameter(torch.randn(n_tags, 8) * 3)

    def generate_tag(self, image: torch.Tensor) -> tuple[list[str], list[str]]:
        pooled = image.mean(dim=(2, 3))  # (n, 3)
        embed = self.features(pooled).unsqueeze(1) + self.queries  # (n, tags, 8)
        logits = self.fc(embed).squeeze(-1)
        targets = torch.where(
            torch.sigmoid(logits) > self.class_threshold.to(image.device),
            torch.tensor(1.0),
            torch.zeros(len(self.tag_list)),
        )
        tag = targets.cpu().numpy()
        tag[:, self.delete_tag_index] = 0
        out = []
        for b in range(image.shape[0]):
            index = np.argwhere(tag[b] == 1)
            out.append(" | ".join(self.tag_list[index].squeeze(axis=1)))
        return out, out


def test_ram_adapter_reads_the_tagging_head_and_applies_rams_rule() -> None:
    fake = FakeRam().eval()
    tagger = RamTagger(fake, kind="ram", image_size=32, floor=0.0)
    assert tagger.vocabulary == [f"tag{i}" for i in range(6)]
    assert tagger.preprocess.resize_mode == "squash" and tagger.preprocess.size == 32
    pixels = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (8, 3, 32, 32))).to(
        torch.uint8
    )
    out = tagger({"pixels": pixels.numpy()})
    from prime_rs.vision.images import normalize

    with torch.no_grad():
        library, _ = fake.generate_tag(normalize(pixels, tagger.preprocess, torch.device("cpu")))
    expected = [set(s.split(" | ")) - {""} for s in library]
    assert [set(t) for t in out["tags"]] == expected
    assert any(expected) and not all(len(e) == 6 for e in expected)
    # A global threshold overrides the per-tag ones; top-k keeps the best.
    tagger.selection = Selection(threshold=0.0, per_tag=tagger.class_thresholds, strict=True)
    assert all(len(t) == 6 for t in tagger({"pixels": pixels.numpy()})["tags"])
    fake.delete_tag_index = [0]
    assert all("tag0" not in t for t in tagger({"pixels": pixels.numpy()})["tags"])


def test_ram_tags_table_keeps_rams_thresholds_for_retag(tmp_path: Path) -> None:
    """The per-tag thresholds are hashed in the run's state but kept whole in the Parquet
    metadata, so ``prime retag`` applies RAM's rule without the model."""
    from click.testing import CliRunner

    from prime_rs.cli import cli
    from prime_rs.vision.runner import tag_images

    tagger = RamTagger(FakeRam().eval(), kind="ram", image_size=32, floor=0.0)
    per_tag = tagger.settings()["selection"]["per_tag"]
    assert per_tag["tags"] == 6 and len(per_tag["sha256"]) == 64
    source = open_images(make_image_folder(tmp_path / "img", {"a": 8}))
    out = tmp_path / "tags.parquet"
    result = tag_images(source, tagger, out, progress=False)
    assert any(result.table["tags"].to_list())
    top1 = tmp_path / "top1.parquet"
    retag = CliRunner().invoke(cli, ["retag", str(out), "-o", str(top1), "--top-k", "1"])
    assert retag.exit_code == 0, retag.output
    assert "each tag's own threshold (6 tags)" in retag.stdout
    assert pl.read_parquet(top1)["tags"].to_list() == [
        t[:1] for t in result.table["tags"].to_list()
    ]
