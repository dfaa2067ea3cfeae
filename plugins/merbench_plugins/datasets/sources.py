"""Where each first-party dataset's files come from: one ``merbench.DataSource`` per dataset.

A dataset plugin attaches its source on its record: ``DatasetSpec(..., source=sources.DEAM)``.
The records live here, apart from the plugins, so that a source can be declared (and checked)
before its plugin exists: ``SOURCES`` maps each dataset name to its source. ``merbench download
NAME`` reads the source from the registered plugin's record; see docs/datasets.md,
"Downloading", for each dataset's size, licence and layout.
"""

from __future__ import annotations

import merbench
from merbench_plugins.datasets._mtg_checksums import AUDIO, AUDIO_LOW, METADATA

EMOMUSIC_BASE = "https://cvml.unige.ch/databases/emoMusic"
DEAM_BASE = "https://cvml.unige.ch/databases/DEAM"
MTG_COMMIT = "1b4fa8c32e076c73b5175c1703ae805b4109309d"
MTG_RAW = f"https://raw.githubusercontent.com/MTG/mtg-jamendo-dataset/{MTG_COMMIT}"
MTG_AUDIO = "https://cdn.freesound.org/mtg-jamendo/autotagging_moodtheme"

EMOMUSIC = merbench.DataSource(
    kind="files",
    files=(
        merbench.SourceFile(url=f"{EMOMUSIC_BASE}/annotations.tar.gz", unpack="annotations"),
        merbench.SourceFile(url=f"{EMOMUSIC_BASE}/clips_45sec.tar.gz", unpack=""),
    ),
    license="Audio under the Free Music Archive's Creative Commons licences; annotations free "
    "for research",
    license_url="https://cvml.unige.ch/databases/emoMusic/",
    size="1,000 45-second MP3 clips (size not published)",
    steps=(
        "Optional: the JukeMIR/MARBLE split (splits/jukemir_marble_split.csv, columns song_id "
        'and split) gives split = "official"; see docs/datasets.md.',
    ),
)
"""emoMusic: the official archives (no published checksum: merbench records what it fetched)."""

DEAM = merbench.DataSource(
    kind="files",
    files=(
        merbench.SourceFile(url=f"{DEAM_BASE}/DEAM_Annotations.zip", unpack=""),
        merbench.SourceFile(url=f"{DEAM_BASE}/metadata.zip", unpack=""),
        merbench.SourceFile(url=f"{DEAM_BASE}/DEAM_audio.zip", unpack=""),
    ),
    license="Audio under the Creative Commons licences of its sources; annotations free for "
    "research",
    license_url="https://cvml.unige.ch/databases/DEAM/",
    size="about 1.35 GB",
)
"""DEAM: the official archives (no published checksum: merbench records what it fetched)."""

PMEMO = merbench.DataSource(
    kind="manual",
    license="For research use only (the dataset's terms)",
    license_url="https://github.com/HuiZhangDB/PMEmo",
    consent=True,
    size="794 MP3 choruses (size not published)",
    steps=(
        "Open https://github.com/HuiZhangDB/PMEmo and follow its link to the PMEmo2019 "
        "download (the authors share it on request, for research use).",
        "Unpack it so that one folder holds metadata.csv, annotations/ and chorus/.",
        "Then: merbench init --dataset pmemo PATH/PMEmo2019 && merbench verify pmemo",
    ),
)
"""PMEmo: no direct link; the authors share it on request."""

FOURQ = merbench.DataSource(
    kind="files",
    files=(
        merbench.SourceFile(
            url="http://mir.dei.uc.pt/resources/MER_audio_taffc_dataset.zip", unpack=""
        ),
    ),
    root="MER_audio_taffc_dataset",
    license="For research use (the dataset's terms); the clips are excerpts of copyrighted "
    "recordings",
    license_url="http://mir.dei.uc.pt/downloads.html",
    consent=True,
    size="900 30-second MP3 clips (size not published)",
)
"""4Q: the MIR group of the University of Coimbra's archive (no published checksum)."""

MERGE = merbench.DataSource(
    kind="zenodo",
    record="13939205",
    license="As stated on the Zenodo record (printed when fetched); for research use",
    license_url="https://zenodo.org/records/13939205",
    consent=True,
    size="3,554 30-second clips and lyrics (every file of the record)",
)
"""MERGE v1.1.0: every file of the Zenodo record, with the md5 digests Zenodo's API gives."""

MTG_METADATA = tuple(
    merbench.SourceFile(
        url=f"{MTG_RAW}/{path}",
        folder=path.rsplit("/", 1)[0],
        checksum=f"sha256:{sha256}",
        size=size,
    )
    for path, (sha256, size) in METADATA.items()
)
"""The mood/theme tags and the five official splits, at a pinned commit of the repository."""


def _mtg_audio(kind: str, digests: dict[str, str]) -> tuple[merbench.SourceFile, ...]:
    """The 100 audio archives of one kind (``audio`` or ``audio-low``), unpacked into ``kind/``."""
    return tuple(
        merbench.SourceFile(
            url=f"{MTG_AUDIO}/{kind}/autotagging_moodtheme_{kind}-{number}.tar",
            checksum=f"sha256:{sha256}",
            unpack=kind,
        )
        for number, sha256 in digests.items()
    )


MTG_LICENSE = "Metadata CC BY-NC-SA 4.0; audio under each track's Creative Commons licence"
MTG_LICENSE_URL = "https://github.com/MTG/mtg-jamendo-dataset#license"

MTG_MOODTHEME = merbench.DataSource(
    kind="files",
    files=(*MTG_METADATA, *_mtg_audio("audio-low", AUDIO_LOW)),
    license=MTG_LICENSE,
    license_url=MTG_LICENSE_URL,
    size="about 46 GB (low-quality MP3 audio of 18,486 tracks)",
    options={"audio": "low"},
    variants={
        "full": merbench.DataSource(
            kind="files",
            files=(*MTG_METADATA, *_mtg_audio("audio", AUDIO)),
            license=MTG_LICENSE,
            license_url=MTG_LICENSE_URL,
            size="about 152 GB (full-quality MP3 audio of 18,486 tracks)",
            options={"audio": "full"},
        )
    },
)
"""MTG-Jamendo mood/theme: metadata and splits at a pinned commit, the official audio tars
(low quality by default, ``--variant full`` for full quality) with the repository's sha256."""

MERP = merbench.DataSource(
    kind="hub",
    record="amaai-lab/MERP",
    license="CC BY 4.0",
    license_url="https://creativecommons.org/licenses/by/4.0/",
    size="54 full-length songs",
)
"""MERP: the Hugging Face Hub dataset of its authors."""

SOURCES: dict[str, merbench.DataSource] = {
    "emomusic": EMOMUSIC,
    "deam": DEAM,
    "pmemo": PMEMO,
    "fourq": FOURQ,
    "merge": MERGE,
    "mtg-moodtheme": MTG_MOODTHEME,
    "merp": MERP,
}
"""Every first-party dataset's source, by dataset name (also those whose plugin comes later)."""
