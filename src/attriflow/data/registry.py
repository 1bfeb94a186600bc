"""Every real dataset the papers use: where it comes from, how it is checked, how it must look.

Three kinds:
- ``download``: public; fetched with a pinned checksum (torchvision's md5 where that is all that is
  published, SHA-256 elsewhere, trust-on-first-use where the source publishes none, see
  ``docs/deviations.md``), extracted safely into ``data/<name>/``.
- ``registration``: needs an account or a signed agreement; never downloaded. It is found at a
  configured path, its layout is checked, and when it is missing the error says where to ask for it
  and where to put it.
- ``embedded``: generated here (see :mod:`attriflow.data.embedded`).

Every prepared dataset folder ends with ``meta.json``, written last: its presence means complete.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from attriflow.data.download import download, extract
from attriflow.errors import UserError
from attriflow.utils.io import atomic_path, write_json
from attriflow.utils.provenance import provenance


@dataclass(frozen=True)
class Source:
    """One file to fetch; ``extract`` unpacks it into the dataset folder."""

    url: str
    filename: str
    checksum: str | None
    extract: bool = False
    subdir: str = ""  # where, under data/<name>/, the file (or its extraction) goes
    auth: str | None = None  # "kaggle": HTTP basic auth from KAGGLE_USERNAME / KAGGLE_KEY


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # download | registration | embedded
    papers: tuple[str, ...]
    description: str
    sources: tuple[Source, ...] = ()
    layout: tuple[str, ...] = ()  # globs, relative to the dataset root, that must match something
    request_at: str = ""  # registration: where to ask for access
    license: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _torchvision_sources(cls_name: str, subdir: str) -> tuple[Source, ...]:
    """MNIST-family files and md5s exactly as pinned by the installed torchvision."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    mirror = cls.mirrors[0]
    return tuple(Source(mirror + fname, fname, f"md5:{md5}", subdir=subdir) for fname, md5 in cls.resources)


def _cifar10_sources() -> tuple[Source, ...]:
    import torchvision.datasets as tvd

    c = tvd.CIFAR10
    return (Source(c.url, c.filename, f"md5:{c.tgz_md5}", extract=True, subdir=""),)


_NIH_BOX = (
    "vfk49d74nhbxq3nqjg0900w5nvkorp5c", "i28rlmbvmfjbl8p2n3ril0pptcmcu9d1", "f1t00wrtdk94satdfb9olcolqx20z2jp",
    "0aowwzs5lhjrceb3qp67ahp0rd1l1etg", "v5e3goj22zr6h8tzualxfsqlqaygfbsn", "asi7ikud9jwnkrnkj99jnpfkjdes7l6l",
    "jn1b4mw4n6lnh74ovmcjb8y48h8xj07n", "tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j", "upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj",
    "l6nilvfa9cg3s28tqv1qc1olm3gnz54p", "hhq8fkdgvcari67vfhs7ppg2w6ni4jze", "ioqwiy20ihqwyr8pf4c24eazhh281pbu",
)
_KAGGLE = "https://www.kaggle.com/api/v1/datasets/download/"


def _kaggle(slug: str, filename: str, subdir: str = "") -> Source:
    return Source(_KAGGLE + slug, filename, None, extract=True, subdir=subdir, auth="kaggle")


def _build() -> dict[str, Dataset]:
    sets = [
        Dataset("mnist", "download", ("mkd",), "MNIST handwritten digits (torchvision layout)",
                _torchvision_sources("MNIST", "MNIST/raw"), ("MNIST/raw/train-images-idx3-ubyte.gz",),
                license="CC BY-SA 3.0"),
        Dataset("fashion-mnist", "download", ("mkd",), "Fashion-MNIST (torchvision layout)",
                _torchvision_sources("FashionMNIST", "FashionMNIST/raw"), ("FashionMNIST/raw/train-images-idx3-ubyte.gz",),
                license="MIT"),
        Dataset("cifar10", "download", ("mkd", "pathways", "prunegrad"), "CIFAR-10 (torchvision layout)",
                _cifar10_sources(), ("*/cifar-10-batches-py/data_batch_1", "*/cifar-10-batches-py/test_batch"),
                license="see https://www.cs.toronto.edu/~kriz/cifar.html"),
        Dataset("mvtec-ad", "download", ("mkd",), "MVTec Anomaly Detection, 15 categories",
                (Source("https://www.mydrive.ch/shares/38536/3830184030e49fe74747669442f0f282/download/420938113-1629952094/mvtec_anomaly_detection.tar.xz",
                        "mvtec_anomaly_detection.tar.xz",
                        "sha256:cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d", extract=True, subdir="mvtec_anomaly_detection"),),
                ("mvtec_anomaly_detection/bottle/train/good/*.png", "mvtec_anomaly_detection/bottle/ground_truth"),
                license="CC BY-NC-SA 4.0"),
        Dataset("nih-chestxray8", "download", ("semantic-cxr",), "NIH ChestX-ray8 images (12 parts) with BBox_List_2017.csv",
                tuple(Source(f"https://nihcc.box.com/shared/static/{key}.gz", f"images_{i + 1:03d}.tar.gz", None, extract=True, subdir=f"part_{i + 1:03d}")
                      for i, key in enumerate(_NIH_BOX))
                + tuple(Source(_KAGGLE + f"nih-chest-xrays/data/{f}", f, None, auth="kaggle")
                        for f in ("BBox_List_2017.csv", "Data_Entry_2017.csv", "train_val_list.txt", "test_list.txt")),
                ("BBox_List_2017.csv", "Data_Entry_2017.csv", "part_001/images/*.png"),
                license="CC0 (NIH Clinical Center)",
                notes="NIH publishes no checksums: hashes are recorded on first download (<file>.sha256) and checked after."),
        Dataset("covid19-cxr-seg", "download", ("semantic-cxr",), "COVID-19 chest X-ray segmentations (pathology masks)",
                (Source("https://github.com/GeneralBlockchain/covid-19-chest-xray-segmentations-dataset/archive/refs/heads/master.zip",
                        "covid-19-chest-xray-segmentations-dataset.zip", None, extract=True, subdir="repo"),),
                ("repo/*/structure.csv",), license="CC BY 4.0"),
        Dataset("retinal-oct", "download", ("mkd",), "Retinal OCT (Kermany et al. 2018)",
                (_kaggle("paultimothymooney/kermany2018", "kermany2018.zip", "archive"),), ("archive/*",), license="CC BY 4.0"),
        Dataset("headct", "download", ("mkd",), "Head CT hemorrhage (Kitamura)",
                (_kaggle("felipekitamura/head-ct-hemorrhage", "head-ct-hemorrhage.zip", "archive"),), ("archive/*",), license="CC BY-NC-SA 4.0"),
        Dataset("brainmri", "download", ("mkd",), "Brain MRI images for brain tumor detection",
                (_kaggle("navoneel/brain-mri-images-for-brain-tumor-detection", "brain-mri.zip", "archive"),), ("archive/*",),
                license="see the Kaggle page"),
        Dataset("chexpert", "registration", ("semantic-cxr",), "CheXpert v1.0 (small)",
                layout=("train.csv", "valid.csv", "train/patient*"),
                request_at="https://stanfordmlgroup.github.io/competitions/chexpert/ (Stanford AIMI, research use agreement)"),
        Dataset("brixia", "registration", ("semantic-cxr",), "BrixIA COVID-19 severity score dataset",
                layout=("metadata_global_v2.csv", "dicom_clean/*"),
                request_at="https://brixia.github.io/ (signed data use agreement)"),
        Dataset("imagenet-val", "registration", ("pathways", "prunegrad", "positive-grad"), "ImageNet ILSVRC2012 validation set, class folders",
                layout=("n01440764/*.JPEG",), request_at="https://image-net.org/download.php (account and terms of access)"),
        Dataset("birdsnap", "registration", ("pathways",), "Birdsnap (images fetched from their original URLs by the authors' script)",
                layout=("images/*", "species.txt", "test_images.txt"), request_at="http://thomasberg.org/ (Birdsnap v1.1 list and script)"),
    ]
    return {d.name: d for d in sets}


_REGISTRY: dict[str, Dataset] | None = None


def registry() -> dict[str, Dataset]:
    """All real datasets by name."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _build()
    return _REGISTRY


def get(name: str) -> Dataset:
    try:
        return registry()[name]
    except KeyError:
        raise UserError(f"unknown dataset {name!r}; real datasets are: {', '.join(sorted(registry()))}") from None


def missing_layout(root: Path, layout: tuple[str, ...]) -> list[str]:
    """The layout globs that match nothing under ``root``."""
    return [pattern for pattern in layout if not glob.glob(str(root / pattern))]


def _auth_headers(source: Source) -> dict[str, str]:
    if source.auth != "kaggle":
        return {}
    user, key = os.environ.get("KAGGLE_USERNAME"), os.environ.get("KAGGLE_KEY")
    cred = Path.home() / ".kaggle" / "kaggle.json"
    if not (user and key) and cred.exists():
        data = json.loads(cred.read_text())
        user, key = data.get("username"), data.get("key")
    if not (user and key):
        raise UserError(
            f"{source.filename} is served by Kaggle, which needs an API token: set KAGGLE_USERNAME and KAGGLE_KEY "
            f"or create ~/.kaggle/kaggle.json (https://www.kaggle.com/settings, 'Create New Token')"
        )
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def fetch(name: str, root: str | os.PathLike = "data", url_overrides: dict[str, str] | None = None, progress: bool = True) -> Path:
    """Download, verify and extract a public dataset into ``root/name``; write ``meta.json`` last.

    ``url_overrides`` maps a source's file name to another URL (a mirror, or a test server).
    """
    ds = get(name)
    if ds.kind != "download":
        raise UserError(f"{name} is a {ds.kind} dataset and is not downloaded; use 'attriflow data locate {name} --path ...'")
    out = Path(root) / name
    downloads = out / "downloads"
    files = {}
    for src in ds.sources:
        url = (url_overrides or {}).get(src.filename, src.url)
        path = download(url, downloads / src.filename, src.checksum, headers=_auth_headers(src), progress=progress)
        if src.extract:
            extract(path, out / (src.subdir or path.name.split(".")[0]))
        else:
            target = out / src.subdir / src.filename
            if not target.exists():
                with atomic_path(target) as tmp:
                    shutil.copyfile(path, tmp)
        files[src.filename] = src.checksum or "sha256:" + (downloads / (src.filename + ".sha256")).read_text().split()[0]
    missing = missing_layout(out, ds.layout)
    if missing:
        raise UserError(f"{name}: downloaded, but {out} lacks {missing}; the archive layout has changed upstream")
    write_json(out / "meta.json", {"name": name, "kind": ds.kind, "files": files, "provenance": provenance()})
    return out


def locate(name: str, path: str | os.PathLike | None, root: str | os.PathLike = "data") -> Path:
    """Check a registration-only dataset at ``path`` and link it as ``root/name/root``; write ``meta.json``."""
    ds = get(name)
    if ds.kind != "registration":
        raise UserError(f"{name} is a public dataset; use 'attriflow data fetch {name}'")
    out = Path(root) / name
    where = Path(path) if path else out / "root"
    if not where.exists():
        raise UserError(
            f"{ds.description} ({name}) is not at {where}. It needs a registration and is never downloaded "
            f"by attriflow: request it at {ds.request_at}, then unpack it to {where} "
            f"(or set datasets.{name}.path in your config to where it is)."
        )
    missing = missing_layout(where, ds.layout)
    if missing:
        raise UserError(
            f"{name} at {where} does not look like {ds.description}: nothing matches {missing}. "
            f"Expected layout (relative to that folder): {list(ds.layout)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    link = out / "root"
    if where.resolve() != link.resolve():
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(where.resolve(), target_is_directory=True)
    write_json(out / "meta.json", {"name": name, "kind": ds.kind, "path": str(where.resolve()), "provenance": provenance()})
    return out
