"""Metric maths against closed forms, scipy and brute force; the weight-file rules; LPIPS and
Inception plumbing with random weights in the published state-dict layouts."""
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from i2i_core import plugins as registry
from i2i_core.errors import I2IError
from i2i_core.metrics import TooFewSamples, feature_space, frechet, kid, ndb, paired, prdc, swd, weights
from i2i_core.metrics.features import inception_feature_space
from i2i_core.metrics.inception import FIDInception, inception_score, load_inception, prepare
from i2i_core.metrics.lpips import LPIPS, AlexNetFeatures, VGG16Features, locate_linear, packaged_linear_candidates
from i2i_core.metrics.registry import ImageSets, builtin_metrics

BUILTIN_IDS = {"fid", "kid", "is", "lpips", "fd", "ndb", "jsd", "swd", "prdc", "l1", "psnr", "ssim", "ms_ssim"}


class StubContext:
    """What a metric reads from ``i2i eval``'s context (cache, feature spaces, suite, seed), without
    building one from options: the Inception space here has random weights and no checksum."""

    def __init__(self, suite, spaces=None):
        self.suite, self.seed, self.device, self.spaces, self.cache = suite, 0, "cpu", spaces or {}, {}

    def cached(self, key, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def feature_space(self, name=None):
        return self.spaces[name]

    def features(self, space, which, images):
        return self.cached(("features", space.id, which), lambda: space(images))


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ------------------------------------------------------------------------------------ Fréchet
def test_frechet_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    s1, s2 = rng.uniform(0.1, 2, 16), rng.uniform(0.1, 2, 16)
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert frechet.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(closed, abs=1e-12)


def test_frechet_matches_scipy_sqrtm_and_is_symmetric():
    rng = np.random.default_rng(1)
    for _ in range(5):
        s1, s2 = random_spd(rng, 16), random_spd(rng, 16)
        mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
        reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
        ours = frechet.frechet_distance(mu1, s1, mu2, s2)
        assert ours == pytest.approx(reference, abs=1e-9)
        assert frechet.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(ours, abs=1e-9)


def test_frechet_of_a_set_with_itself_is_zero_and_the_small_sample_bias_is_about_one_over_n():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 16))
    assert abs(frechet.fd(x, x)["value"]) < 1e-9
    scaled = []
    for n in (100, 400, 1600):
        values = [frechet.fd(rng.normal(size=(n, 16)), rng.normal(size=(n, 16)))["value"] for _ in range(3)]
        scaled.append(n * np.mean(values))
    assert max(scaled) < 1.6 * min(scaled)  # N·FD ≈ 170 at d = 16: bias ∝ 1/N (Chong & Forsyth 2020)
    assert frechet.fd(x[:10], x[10:20])["rank_deficient"]
    with pytest.raises(TooFewSamples):
        frechet.fd(x[:1], x)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 8))
def test_frechet_property_nonnegative_and_symmetric(seed, d):
    rng = np.random.default_rng(seed)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    forward = frechet.frechet_distance(mu1, s1, mu2, s2)
    assert forward >= -1e-9
    assert frechet.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(forward, abs=1e-8)


# ------------------------------------------------------------------------------------ KID
def test_kid_mmd_matches_a_brute_force_double_loop():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 5)), rng.normal(size=(20, 5)) + 0.2

    def k(a, b):
        return (a @ b / 5 + 1) ** 3

    m = 20
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert kid.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, abs=1e-12)


def test_kid_is_unbiased_and_positive_under_a_shift():
    rng = np.random.default_rng(4)
    trials = [kid.mmd2_unbiased(rng.normal(size=(100, 16)), rng.normal(size=(100, 16))) for _ in range(200)]
    mean, standard_error = np.mean(trials), np.std(trials) / np.sqrt(len(trials))
    assert abs(mean) < 3 * standard_error
    assert min(trials) < 0
    shifted = kid.kid(rng.normal(size=(200, 16)), rng.normal(size=(200, 16)) + 0.3, subsets=20, subset_size=100)
    assert shifted["value"] > 0.1


def test_kid_subsets_are_seeded_and_shrink_for_small_sets():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 8)), rng.normal(size=(40, 8))
    first, again = kid.kid(x, y, subsets=10, seed=7), kid.kid(x, y, subsets=10, seed=7)
    assert first == again and first["subset_size"] == 40 and first["subsets"] == 10
    assert kid.kid(x, y, subsets=10, seed=8)["value"] != first["value"]
    with pytest.raises(TooFewSamples):
        kid.kid(x[:1], y)


def test_kid_of_whole_sets_is_computed_once_without_a_spread():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) + 0.2
    found = kid.kid(x, y, subsets=100, seed=3)
    assert found["subsets"] == 1 and found["std"] is None and found["subset_size"] == 30
    assert found["value"] == kid.mmd2_unbiased(x, y)
    assert kid.kid(x, y[:29], subsets=5)["subsets"] == 5  # one set larger: subsets differ


# ------------------------------------------------------------------------------------ NDB / JSD
def test_ndb_z_test_by_hand():
    z, p_values = ndb.two_proportion_test([0.6, 0.4], [0.5, 0.5], 100, 200)
    pooled = (0.6 * 100 + 0.5 * 200) / 300
    expected = 0.1 / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 200))
    assert z[0] == pytest.approx(expected) and z[1] == pytest.approx(-expected)
    assert p_values[0] == pytest.approx(math.erfc(expected / math.sqrt(2)))


def mixture(rng, n, centres, keep=None):
    keep = list(range(len(centres))) if keep is None else keep
    labels = rng.choice(keep, size=n)
    return centres[labels] + rng.normal(scale=0.3, size=(n, centres.shape[1]))


def test_ndb_flags_the_bins_of_dropped_clusters():
    rng = np.random.default_rng(6)
    centres = rng.normal(scale=10, size=(10, 4))
    real = mixture(rng, 2000, centres)
    fake = mixture(rng, 2000, centres, keep=[0, 1, 2, 3, 4, 5, 6])
    found = ndb.ndb_jsd(real, fake, bins=10, whiten=False)
    bins = centres_of_bins(real, found)
    dropped_bins = {int(np.argmin(((bins - centres[c]) ** 2).sum(1))) for c in (7, 8, 9)}
    assert len(dropped_bins) == 3 and dropped_bins <= set(found["different_bins"])
    assert all(found["q_fake"][b] == 0 for b in dropped_bins)
    assert found["ndb"] >= 3 and 0 < found["jsd"] <= math.log(2)


def centres_of_bins(real, found):
    """Recompute the bin centres of ``ndb_jsd`` (same seed): the k-means of the real samples, sorted by size."""
    centres, labels = ndb.kmeans(real, found["bins"], seed=found["seed"])
    return centres[np.argsort(-np.bincount(labels, minlength=found["bins"]), kind="stable")]


def test_ndb_under_the_null_flags_about_alpha_of_the_bins():
    rng = np.random.default_rng(7)
    centres = rng.normal(scale=3, size=(20, 3))
    found = ndb.ndb_jsd(mixture(rng, 5000, centres), mixture(rng, 5000, centres))
    assert found["bins"] == 100 and found["ndb"] <= 12
    assert found["jsd"] < 0.02


def test_ndb_uses_fewer_bins_for_small_sets_and_says_so():
    rng = np.random.default_rng(8)
    found = ndb.ndb_jsd(rng.normal(size=(200, 3)), rng.normal(size=(150, 3)))
    assert found["bins"] == 4 and "n_real // 50" in found["bins_rule"]
    with pytest.raises(TooFewSamples):
        ndb.ndb_jsd(rng.normal(size=(20, 3)), rng.normal(size=(20, 3)))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=12), st.lists(st.floats(0, 1), min_size=2, max_size=12))
def test_jsd_property_between_zero_and_ln2(p, q):
    n = min(len(p), len(q))
    p, q = np.array(p[:n]), np.array(q[:n])
    if p.sum() == 0 or q.sum() == 0:
        return
    value = ndb.jensen_shannon(p / p.sum(), q / q.sum())
    assert -1e-12 <= value <= math.log(2) + 1e-12


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(9)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = mixture(rng, 300, centres)
    found, labels = ndb.kmeans(x, 3, seed=0)
    assert np.sort(np.round(found).astype(int), axis=0).tolist() == np.sort(centres.astype(int), axis=0).tolist()
    assert len(set(labels.tolist())) == 3


# ------------------------------------------------------------------------------------ SWD, PRDC
def test_swd_is_smaller_for_the_same_distribution():
    generator = torch.Generator().manual_seed(0)
    real = (torch.rand(40, 3, 32, 32, generator=generator) * 120).to(torch.uint8)
    same = (torch.rand(40, 3, 32, 32, generator=generator) * 120).to(torch.uint8)
    other = (torch.rand(40, 3, 32, 32, generator=generator) ** 3 * 255).to(torch.uint8)
    near, far = swd.swd(real, same), swd.swd(real, other)
    assert near["value"] < far["value"] and len(near["per_level"]) == 2
    assert swd.swd(real, same) == near  # seeded
    assert near["features"] == "laplacian-pyramid-7x7-patches"


def test_swd_does_not_depend_on_the_batch_size(monkeypatch):
    generator = torch.Generator().manual_seed(2)
    real = torch.randint(0, 256, (23, 3, 40, 36), dtype=torch.uint8, generator=generator)
    fake = torch.randint(0, 200, (30, 3, 32, 32), dtype=torch.uint8, generator=generator)  # resized to real's size
    whole = swd.swd(real, fake, seed=4)
    monkeypatch.setattr(swd, "BATCH", 5)
    batched = swd.swd(real, fake, seed=4)
    assert batched["per_level"] == pytest.approx(whole["per_level"], rel=1e-5)
    assert whole["images_per_set"] == 23 and whole["resize"].startswith("generated images bilinear")


def test_prdc_limits():
    rng = np.random.default_rng(10)
    real = rng.normal(size=(100, 8))
    same = prdc.prdc(real, real)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    assert same["density"] == pytest.approx(1.0 + 0.0, abs=0.5)
    far = prdc.prdc(real, real + 100)
    assert far["precision"] == 0 and far["recall"] == 0 and far["coverage"] == 0 and far["density"] == 0
    small = prdc.prdc(real[:3], real[3:6])
    assert small["k_precision_recall"] == 2 and small["k_density_coverage"] == 2


# ------------------------------------------------------------------------------------ paired
def reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM for one H×W channel with scipy's valid correlation."""
    window = paired.gaussian_window().numpy()

    def blur(a):
        return scipy.signal.correlate2d(a, window, mode="valid")

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    numerator = (2 * mx * my + paired.C1) * (2 * cxy + paired.C2)
    ssim_map = numerator / ((mx**2 + my**2 + paired.C1) * (vx + vy + paired.C2))
    return float(ssim_map.mean())


def test_ssim_matches_a_scipy_reference_and_identical_images_score_one():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 24, 24, generator=generator, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(x.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    expected = [np.mean([reference_ssim(x[n, c].numpy(), y[n, c].numpy()) for c in range(3)]) for n in range(2)]
    assert paired.ssim(x, y).numpy() == pytest.approx(expected, abs=1e-10)
    assert paired.ssim(x, x).tolist() == pytest.approx([1.0, 1.0])
    assert paired.ms_ssim(x, x).tolist() == pytest.approx([1.0, 1.0])
    assert (paired.ms_ssim(x, y) < 1).all()


def test_ms_ssim_uses_the_scales_that_fit_and_its_record_says_how_many():
    assert paired.ms_ssim_scales(256, 256) == 5 and paired.ms_ssim_scales(32, 32) == 2
    assert paired.ms_ssim_scales(8, 8) == 1 and paired.window_for(8, 8) == 7
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    metric = builtin_metrics()["ms_ssim"]
    record = metric.compute(ImageSets(images, images.flip(0), paired=True), StubContext("paired"))["ms_ssim"]
    assert record["scales"] == 2 and record["window"] == 11
    groups = images.view(1, 3, 3, 32, 32)
    diversity = metric.compute(ImageSets(None, images, groups=groups), StubContext("diversity"))
    assert diversity["diversity_ms_ssim"]["scales"] == 2


def test_l1_and_psnr():
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    y = torch.full((1, 3, 4, 4), 51, dtype=torch.uint8)  # 0.2 in [0, 1] units
    assert paired.l1(x, y).item() == pytest.approx(0.2)
    assert paired.psnr(x, y).item() == pytest.approx(-10 * math.log10(0.04))
    assert paired.psnr(x, x).item() == pytest.approx(100.0)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10**6))
def test_ssim_property_symmetric_and_at_most_one(seed):
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.rand(1, 3, 16, 16, generator=generator), torch.rand(1, 3, 16, 16, generator=generator)
    forward = paired.ssim(x, y).item()
    assert forward <= 1 + 1e-12 and paired.ssim(y, x).item() == pytest.approx(forward, abs=1e-12)


# ------------------------------------------------------------------------------------ feature spaces
def test_feature_spaces_without_weights():
    images = torch.randint(0, 256, (5, 3, 40, 40), dtype=torch.uint8)
    pixels = feature_space("pixel16")
    assert pixels(images).shape == (5, 768) and pixels.sha256 is None
    first, again, other = feature_space("rand@0"), feature_space("rand@0"), feature_space("rand@1")
    assert first.sha256 == again.sha256 != other.sha256 and len(first.sha256) == 64
    assert torch.equal(first(images), again(images)) and first(images).shape == (5, 256)
    assert "conv4x4" in first.record()["features_architecture"]
    with pytest.raises(I2IError, match="unknown feature space"):
        feature_space("dino")


# ------------------------------------------------------------------------------------ weight files
@pytest.fixture
def no_weight_dirs(monkeypatch, tmp_path):
    monkeypatch.delenv("I2I_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


def test_missing_inception_names_the_file_its_size_checksum_and_every_place(no_weight_dirs):
    with pytest.raises(I2IError) as error:
        weights.locate(weights.INCEPTION, None, option="--inception")
    message = str(error.value)
    assert "\n" not in message
    for part in ("pt_inception-2015-12-05-6726825d.pth", "95,628,359", weights.INCEPTION.sha256, "--inception",
                 "$I2I_WEIGHTS_DIR (not set)", str(no_weight_dirs / "torch_home" / "hub" / "checkpoints")):
        assert part in message


def test_weights_are_found_in_order_and_their_checksum_is_verified(no_weight_dirs, monkeypatch):
    folder = no_weight_dirs / "weights"
    folder.mkdir()
    (folder / weights.INCEPTION.name).write_bytes(b"not the network")
    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(folder))
    with pytest.raises(I2IError, match="does not match pt_inception"):
        weights.locate(weights.INCEPTION)
    fake = weights.WeightFile(name="net-12345678.pth", purpose="test", sha256_prefix=weights.sha256_of(
        folder / weights.INCEPTION.name)[:8])
    (folder / fake.name).write_bytes(b"not the network")
    path, digest = weights.locate(fake)
    assert path == folder / fake.name and digest.startswith(fake.sha256_prefix)
    explicit = no_weight_dirs / "elsewhere.pth"
    explicit.write_bytes(b"not the network")
    assert weights.locate(fake, explicit)[0] == explicit  # the option comes first
    with pytest.raises(I2IError, match="does not exist"):
        weights.locate(fake, no_weight_dirs / "missing.pth", option="--inception")


# ------------------------------------------------------------------------------------ Inception
@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory):
    torch.manual_seed(0)
    net = FIDInception().eval()
    with torch.no_grad():  # running statistics that keep activations finite and varied
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
                module.running_mean.normal_(0, 0.1)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(state, path)
    return path, net


def test_inception_layout_matches_the_published_keys(random_inception_file):
    _, net = random_inception_file
    state = net.state_dict()
    assert state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert state["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert state["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert state["fc.weight"].shape == (1008, 2048) and state["fc.bias"].shape == (1008,)
    assert not any(k.startswith("AuxLogits") for k in state)
    parameters = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var",
                                                                              "num_batches_tracked")))
    # torchvision's inception_v3 has 27,161,264 parameters; less its auxiliary head (3,326,696),
    # plus 8 more classes in fc (16,392)
    assert parameters == 23_850_960


def test_inception_round_trips_and_gives_pool3_features(random_inception_file):
    path, net = random_inception_file
    loaded, digest = load_inception(path, check=False)  # the test path: no checksum, random weights
    assert digest is None
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    space = inception_feature_space(path, "pytorch-fid", check=False)
    image = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pool3, logits = loaded(prepare(image, "pytorch-fid"))
    assert pool3.shape == (1, 2048) and logits.shape == (1, 1008) and torch.isfinite(pool3).all()
    assert space.dim == 2048 and space.resize.startswith("pytorch-fid") and space.logits is not None
    for mode in ("clean", "tf1"):
        assert prepare(image, mode).shape == (1, 3, 299, 299)


def test_fid_resize_conventions():
    ramp = torch.arange(4, dtype=torch.uint8).view(1, 1, 1, 4).expand(1, 3, 4, 4) * 60
    from i2i_core.metrics.inception import _tf1_bilinear

    # TF1 maps destination j to source j·in/out with no half-pixel offset: 4 → 8 repeats then interpolates
    assert _tf1_bilinear(ramp.float(), 8)[0, 0, 0].tolist() == [0, 30, 60, 90, 120, 150, 180, 180]
    pytorch_fid = prepare(torch.full((1, 3, 8, 8), 255, dtype=torch.uint8), "pytorch-fid")
    assert torch.allclose(pytorch_fid, torch.ones_like(pytorch_fid))
    assert torch.allclose(prepare(torch.full((1, 3, 8, 8), 128, dtype=torch.uint8), "tf1"), torch.zeros(1))
    # bicubic overshoots at a hard edge; clean-fid clips each resized channel to [0, 255]
    from i2i_core.metrics.inception import _pil_bicubic

    edge = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    edge[..., 4:] = 255
    raw = _pil_bicubic(edge.float(), 299)
    assert raw.min() < 0 and raw.max() > 255
    clean = prepare(edge, "clean")
    assert clean.min() == -1 and clean.max() == 1


def test_inception_passes_build_no_graph_and_is_reuses_the_pool3_features(random_inception_file):
    path, net = random_inception_file
    space = inception_feature_space(path, "pytorch-fid", check=False)
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    pool3 = space.embed(images)  # deliberately outside no_grad
    assert not pool3.requires_grad and pool3.grad_fn is None
    loaded, _ = load_inception(path, check=False)
    assert not any(p.requires_grad for p in loaded.parameters())
    passes = []
    embed = space.embed
    space.embed = lambda batch: passes.append(len(batch)) or embed(batch)
    ctx = StubContext("inception", {"inception": space})
    fid_features = ctx.features(space, "fake", images)  # what FID/KID leave in the cache
    found = builtin_metrics()["is"].compute(ImageSets(None, images), ctx)["is"]
    assert passes == [3]  # IS made no second pass
    logits = space.logits(fid_features)
    assert not logits.requires_grad and logits.dtype == torch.float64
    with torch.no_grad():
        expected = net(prepare(images, "pytorch-fid"))[1]
    assert torch.allclose(logits.float(), expected, rtol=1e-4, atol=1e-4)
    assert found["value"] == pytest.approx(inception_score(expected)["value"], rel=1e-5)


def test_inception_score_limits():
    uniform = inception_score(torch.zeros(20, 1008))
    assert uniform["value"] == pytest.approx(1.0)
    confident = torch.full((10, 1008), -50.0)
    confident[torch.arange(10), torch.arange(10)] = 50.0
    assert inception_score(confident, splits=1)["value"] == pytest.approx(10.0, rel=1e-6)


# ------------------------------------------------------------------------------------ LPIPS
def random_lpips(net="alex", seed=0) -> LPIPS:
    torch.manual_seed(seed)
    model = LPIPS(net)
    for layer in model.linear_layers():
        layer.model[1].weight.data.uniform_(0, 1)  # the published weights are ≥ 0 too
    return model.eval()


def test_lpips_plumbing_with_a_random_backbone():
    model = random_lpips()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 64, 64, generator=generator) * 2 - 1
    y = torch.rand(3, 3, 64, 64, generator=generator) * 2 - 1
    with torch.no_grad():
        d = model(x, y)
        assert torch.allclose(model(x, x), torch.zeros(3), atol=1e-7)
        assert (d > 0).all() and torch.allclose(model(y, x), d, atol=1e-6)
        assert torch.allclose(model(x[1:2], y[1:2]), d[1:2], atol=1e-6)  # batch-independent
        maps = model.layer_maps(x, y)
        assert len(maps) == 5 and torch.allclose(sum(m.mean((1, 2, 3)) for m in maps), d, atol=1e-6)
    v00 = LPIPS("alex", version="0.0")
    v00.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(v00(x, y), d)  # v0.0 skips the scaling layer


@pytest.mark.parametrize("cls, parameters", [(AlexNetFeatures, 2_469_696), (VGG16Features, 14_714_688)])
def test_backbones_round_trip_torchvision_layout_state_dicts(cls, parameters, tmp_path):
    # torchvision's totals (61,100,840 and 138,357,544) less their classifiers
    assert sum(p.numel() for p in cls().parameters()) == parameters
    torch.manual_seed(1)
    source = cls()
    state = dict(source.state_dict())
    state["classifier.1.weight"] = torch.zeros(4, 4)  # a full torchvision file also holds its classifier
    path = tmp_path / "backbone.pth"
    torch.save(state, path)
    loaded = cls().load_torchvision(weights.load_state_dict(path))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(source(x), loaded(x)):
            assert torch.equal(a, b)
    assert [t.shape[1] for t in loaded(x)] == list(cls.channels)
    assert all(k.startswith("features.") for k in source.state_dict())
    with pytest.raises(I2IError, match="lacks"):
        cls().load_torchvision({"features.0.weight": state["features.0.weight"]})


def test_lpips_linear_layers_are_found_in_an_installed_package_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "site" / "lpips"
    (package / "weights" / "v0.0").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('lpips must not be imported')\n")
    model = random_lpips()
    lin = {k: v for k, v in model.state_dict().items() if k.startswith("lin")}
    torch.save(lin, package / "weights" / "v0.0" / "alex.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert package / "weights" / "v0.0" / "alex.pth" in packaged_linear_candidates("alex", "0.0")
    path, digest = locate_linear("alex", "0.0")
    assert path == package / "weights" / "v0.0" / "alex.pth" and len(digest) == 64
    LPIPS("alex", "0.0").load_linear(weights.load_state_dict(path))
    torch.save(lin, tmp_path / "alex.pth")
    with pytest.raises(I2IError, match="does not match alex.pth"):  # v0.1 files are checked against the wheel's
        locate_linear("alex", "0.1", tmp_path / "alex.pth")


def test_missing_lpips_backbone_is_named(no_weight_dirs):
    with pytest.raises(I2IError, match="alexnet-owt-7be5be79.pth .*7be5be79.*searched"):
        weights.locate(weights.ALEXNET, None, option="--lpips-backbone")


# ------------------------------------------------------------------------------------ registry
def test_builtin_metric_ids_are_registered_through_the_hook():
    assert set(builtin_metrics()) == BUILTIN_IDS
    assert BUILTIN_IDS <= set(registry.metrics())
