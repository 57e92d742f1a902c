"""A user prepares a dataset once (`prepare`) from a folder, an NVlabs zip or a torchvision set, and
trains from it with StreamingDataModule: labels kept, bad files counted and skipped, the same pixels
as the image folder gives, a resumed run continuing the same batches, and DDP ranks reading
disjoint shards."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.data import ImageFolderDataModule, StreamingDataModule
from tests.conftest import REPO, run_cli, write_rgb_images
from tests.helpers.reliability import one_line_error


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 cats and 4 dogs (40x48 PNGs) and one file that is not an image."""
    root = tmp_path_factory.mktemp("classes")
    write_rgb_images(root / "cat", 5, size=(40, 36))
    write_rgb_images(root / "dog", 4, size=(40, 36), seed=2)
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    return root


@pytest.fixture(scope="module")
def prepared(class_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "cats_dogs"
    with pytest.warns(UserWarning, match="skipped 1 source image"):
        run_cli("prepare", "--source", class_folder, "--out", out, "--resolution", "32", "--labels", "folders", "--workers", "2")
    return out


def streamed(input_dir: Path, **kwargs) -> StreamingDataModule:
    module = StreamingDataModule(input_dir=str(input_dir), **{"batch_size": 2, "num_workers": 0, **kwargs})
    module.setup("fit")
    return module


def test_prepare_a_folder_keeps_labels_and_skips_broken_files(prepared: Path, class_folder: Path) -> None:
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["count"] == 9 and manifest["skipped"] == 1 and manifest["skipped_examples"] == ["dog/broken.png"]
    assert (manifest["resolution"], manifest["channels"], manifest["num_classes"]) == (32, 3, 2)
    assert manifest["class_names"] == ["cat", "dog"] and len(manifest["source_hash"]) == 64

    module = streamed(prepared, labels="prepared")
    assert (module.resolution, module.channels, module.num_classes) == (32, 3, 2)
    assert streamed(prepared).num_classes == 0  # labels none (the default): an unconditional model
    metric = module.metric_set()
    labels = sorted(int(metric[i][1]) for i in range(len(metric)))
    assert labels == [0] * 5 + [1] * 4
    # the stored pixels are the image folder's (same decode, resize and crop), without flips
    folder = ImageFolderDataModule(root=str(class_folder), resolution=32, val_fraction=0.0, num_workers=0, flip=False)
    with pytest.warns(UserWarning, match="skipping 1 unreadable"):
        folder.setup("fit")
    expected = torch.stack([folder.metric_set()[i][0] for i in range(9)])
    got = torch.stack([metric[i][0] for i in range(9)])
    assert (got - expected).abs().max() < 1e-5


def test_streaming_batches_are_uint8_until_on_the_device(prepared: Path) -> None:
    module = streamed(prepared)
    images, labels = next(iter(module.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (2, 3, 32, 32)
    images, labels = module.on_after_batch_transfer((images, labels), 0)
    assert images.dtype == torch.float32 and -1 <= images.min() and images.max() <= 1
    assert set(labels.tolist()) <= {0, 1}


def test_training_images_are_x_flipped_on_the_fly(prepared: Path) -> None:
    torch.manual_seed(0)  # the flips follow seed_everything's seed
    module = streamed(prepared, batch_size=1)
    stored = [module.metric_set()[i][0] for i in range(9)]
    seen = [module.on_after_batch_transfer(batch, 0)[0][0] for batch in module.train_dataloader()]
    as_stored = sum(any(torch.equal(image, s) for s in stored) for image in seen)
    mirrored = sum(any(torch.equal(image, s.flip(-1)) for s in stored) for image in seen)
    assert len(seen) == 9 and as_stored + mirrored == 9 and as_stored > 0 and mirrored > 0


def test_a_prepared_resolution_that_differs_is_one_line(prepared: Path, capsys: pytest.CaptureFixture) -> None:
    line = one_line_error(capsys, "fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--data", "gan_lightning.data.StreamingDataModule",
                          "--data.input_dir", prepared, "--data.resolution", "64")  # fmt: skip
    assert "resolution 64 differs from the prepared dataset's 32" in line


class RecordBatches(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[list, list]] = []

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        self.seen.append((images.flatten(1)[:, :16].tolist(), labels.tolist()))
        return self.weight.sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def record(input_dir: Path, steps: int, ckpt_path: Path | None = None, save: Path | None = None) -> list:
    L.seed_everything(0)
    data = StreamingDataModule(input_dir=str(input_dir), batch_size=2, num_workers=2, persistent_workers=False)
    model = RecordBatches()
    trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)  # fmt: skip
    trainer.fit(model, data, ckpt_path=ckpt_path)
    if save is not None:
        trainer.save_checkpoint(save)
    return model.seen


def test_a_resumed_run_continues_with_the_same_batches(prepared: Path, tmp_path: Path) -> None:
    """9 images, batches of 2: 4 batches an epoch; stopped after 3, resumed to 7 (into epoch 2)."""
    uninterrupted = record(prepared, 7)
    first = record(prepared, 3, save=tmp_path / "mid.ckpt")
    resumed = record(prepared, 7, ckpt_path=tmp_path / "mid.ckpt")
    assert first == uninterrupted[:3]
    assert resumed == uninterrupted[3:]
    state = torch.load(tmp_path / "mid.ckpt", weights_only=True)["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert state[0]["num_samples_yielded"] == 6  # the loader's position is in the checkpoint


@pytest.fixture(scope="module")
def prepared_24(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 images at 16 px: enough that 2 workers are still mid-way through their items when an epoch is cut short."""
    root = tmp_path_factory.mktemp("prepared_24")
    write_rgb_images(root / "images", 24, size=(16, 16))
    run_cli("prepare", "--source", root / "images", "--out", root / "prepared", "--resolution", "16", "--workers", "1")
    return root / "prepared"


def record_cut_short(
    input_dir: Path, folder: Path, *callbacks: L.Callback, ckpt_path: Path | None = None, persistent_workers: bool = True
) -> list:
    """3 epochs of 2 of the 12 batches (limit_train_batches), 2 workers; last.ckpt in ``folder`` at
    the end and on SIGTERM."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from gan_lightning.training.callbacks.checkpoint_writing import LastCheckpoint

    L.seed_everything(0)
    data = StreamingDataModule(input_dir=str(input_dir), batch_size=2, num_workers=2, persistent_workers=persistent_workers)
    model = RecordBatches()
    last = LastCheckpoint(dirpath=str(folder), every_kimg=None, every_minutes=None)
    trainer = L.Trainer(max_epochs=3, limit_train_batches=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, default_root_dir=folder, callbacks=[last, *callbacks])  # fmt: skip
    try:
        trainer.fit(model, data, ckpt_path=ckpt_path)
    except SIGTERMException:
        pass
    return model.seen


@pytest.mark.parametrize("at_batch", [1, 2], ids=["at_an_epoch_end", "mid_epoch"])
def test_epochs_cut_short_move_on_and_resume_exactly(at_batch: int, prepared_24: Path, tmp_path: Path) -> None:
    """Persistent workers keep their own position in the data: after an epoch that Lightning ended
    early, each later epoch must still get new batches, and a run SIGTERMed at the end of such an
    epoch or in the next one continues them."""
    from tests.helpers.reliability import SignalAtBatch

    uninterrupted = record_cut_short(prepared_24, tmp_path / "uninterrupted")
    assert len(uninterrupted) == 6 and uninterrupted[0:2] != uninterrupted[2:4] != uninterrupted[4:6]
    assert uninterrupted == record_cut_short(prepared_24, tmp_path / "workers_each_epoch", persistent_workers=False)
    first = record_cut_short(prepared_24, tmp_path / "stopped", SignalAtBatch(at_batch))
    resumed = record_cut_short(prepared_24, tmp_path / "stopped", ckpt_path=tmp_path / "stopped" / "last.ckpt")
    assert first == uninterrupted[: at_batch + 1]
    assert resumed == uninterrupted[at_batch + 1 :]


def test_fit_streams_a_prepared_dataset(prepared: Path, tmp_path: Path) -> None:
    """The documented override: any preset with --data StreamingDataModule --data.input_dir DIR."""
    run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--data", "gan_lightning.data.StreamingDataModule",
            "--data.input_dir", prepared, "--data.batch_size", "4", "--data.num_workers", "0",
            "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", tmp_path,
            "--trainer.fast_dev_run", "1", "--model.init_args.generator.width", "8", "--model.init_args.discriminator.width", "8",
            "--model.init_args.fid_features", "shapes")  # fmt: skip


def test_prepare_reads_an_nvlabs_zip_with_its_dataset_json(tmp_path: Path) -> None:
    images = write_rgb_images(tmp_path / "images", 4, size=(32, 32))
    archive = tmp_path / "data.zip"
    names = [f"00000/img{i:08d}.png" for i in range(4)]
    with zipfile.ZipFile(archive, "w") as zipped:  # the layout dataset_tool.py writes
        for name, image in zip(names, images):
            zipped.write(image, name)
        zipped.writestr("dataset.json", json.dumps({"labels": [[name, 3 - i] for i, name in enumerate(names)]}))
    run_cli("prepare", "--source", archive, "--out", tmp_path / "out", "--resolution", "32", "--labels", "dataset.json",
            "--transform", "none", "--workers", "1")  # fmt: skip
    module = streamed(tmp_path / "out", labels="prepared")
    assert module.num_classes == 4 and module.manifest.transform == "none"
    stored = {int(label): image for image, label in (module.metric_set()[i] for i in range(4))}
    for i, image in enumerate(images):  # --transform none: the pixels as they are
        expected = torch.from_numpy(np.asarray(Image.open(image))).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.equal(stored[3 - i], expected)


def write_fake_mnist(root: Path, count: int) -> None:
    """torchvision's MNIST files (idx format) with `count` images: no download."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    for split in ("train", "t10k"):  # torchvision looks for both splits
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, count, 28, 28) + pixels.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, count) + bytes(i % 10 for i in range(count)))


def test_prepare_a_torchvision_set_with_its_classes(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path / "tv", 6)
    run_cli("prepare", "--source", "torchvision:mnist", "--torchvision-root", tmp_path / "tv", "--out", tmp_path / "out",
            "--resolution", "32", "--channels", "1", "--labels", "classes", "--workers", "1")  # fmt: skip
    module = streamed(tmp_path / "out", labels="prepared")
    assert (module.channels, module.num_classes, module.manifest.count) == (1, 6, 6)
    assert sorted(int(module.metric_set()[i][1]) for i in range(6)) == list(range(6))


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--source", "{tmp}/nowhere", "--resolution", "32"], "does not exist; allowed: a folder of images, an NVlabs"),
        (["--source", "{tmp}/file.txt", "--resolution", "32"], "is a file but not a zip archive"),
        (["--source", "torchvision:imagenet", "--resolution", "32"], "unknown torchvision dataset; allowed: torchvision:mnist"),
        (["--source", "{folder}", "--resolution", "abc"], "--resolution 'abc' is not a whole number"),
        (["--source", "{folder}", "--resolution", "2"], "--resolution must be at least 4, got 2"),
        (["--source", "{folder}", "--resolution", "32", "--workers", "0"], "--workers must be at least 1, got 0"),
        (["--source", "{folder}", "--resolution", "32", "--labels", "tags"], "--labels 'tags' is not known; allowed: dataset.json, folders, classes"),
        (["--source", "{folder}", "--resolution", "32", "--labels", "dataset.json"], "no dataset.json in"),
        (["--source", "{folder}", "--resolution", "32", "--transform", "stretch"], "--transform 'stretch' is not known"),
        (["--source", "{folder}", "--resolution", "32", "--out", "{folder}"], "already exists and is not an empty folder"),
    ],
)
def test_bad_prepare_arguments_are_one_line(args: list[str], expected: str, class_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file.txt").write_text("hello")
    args = [a.format(tmp=tmp_path, folder=class_folder) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    assert expected in one_line_error(capsys, "prepare", *args)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def read_my_shard(rank: int, input_dir: str, port: int, out: str) -> None:
    """One DDP process (gloo, CPU): the images its loader gives in one epoch, as byte hashes."""
    import hashlib
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        module = StreamingDataModule(input_dir=input_dir, batch_size=1, num_workers=2, persistent_workers=False, flip=False)
        module.setup("fit")
        seen = [hashlib.sha1(images[0].numpy().tobytes()).hexdigest() for images, _ in module.train_dataloader()]
        Path(out, f"rank{rank}.json").write_text(json.dumps(seen))
    finally:
        dist.destroy_process_group()


def test_two_ddp_processes_read_disjoint_shards_covering_the_set(tmp_path: Path) -> None:
    import hashlib
    import socket

    import torch.multiprocessing as mp

    write_rgb_images(tmp_path / "images", 8, size=(32, 32))
    run_cli("prepare", "--source", tmp_path / "images", "--out", tmp_path / "out", "--resolution", "32", "--workers", "2")
    with socket.socket() as probe:  # a free port for the process group
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.start_processes(read_my_shard, args=(str(tmp_path / "out"), port, str(tmp_path)), nprocs=2, start_method="fork")
    shards = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    metric = streamed(tmp_path / "out").metric_set()
    stored = {hashlib.sha1(((metric[i][0] + 1) * 127.5).round().to(torch.uint8).numpy().tobytes()).hexdigest() for i in range(8)}
    assert len(shards[0]) == len(shards[1]) == 4
    assert not set(shards[0]) & set(shards[1])
    assert set(shards[0]) | set(shards[1]) == stored


PREPARE_AFTER_PARALLEL_TORCH = """
import sys, torch
from gan_lightning.data.prepared import prepare_dataset
from gan_lightning.data.sources import open_source
torch.set_num_threads(2)
torch.rand(1 << 20).mul(2).sum()  # an op split over OpenMP's threads: the pool the workers are forked with
source, out = sys.argv[1:]
print(prepare_dataset(open_source(source, None), source, out, 128, 3, "center-crop", None, 2).count)
"""


def test_prepare_after_torch_ran_on_threads_finishes(tmp_path: Path) -> None:
    # A script that trained or measured before preparing (the throughput benchmark did) hung: the
    # forked workers' first parallel op waited forever for OpenMP threads that fork had not copied.
    import os
    import signal
    import subprocess
    import sys

    write_rgb_images(tmp_path / "images", 4, size=(160, 160))
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    process = subprocess.Popen(
        [sys.executable, "-c", PREPARE_AFTER_PARALLEL_TORCH, str(tmp_path / "images"), str(tmp_path / "out")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the stuck workers too
        process.communicate()
        pytest.fail("prepare hung after the parent process had run torch on several threads")
    assert process.returncode == 0, err
    assert out.split()[-1] == "4"
