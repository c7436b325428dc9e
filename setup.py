"""Package metadata for vhpi (the build backend is named in pyproject.toml)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("vhpi/__init__.py").read_text()).group(1)

setup(
    name="vhpi",
    version=VERSION,
    description="Very Hungry Pi: hourly rsync + hard-link snapshots for a home LAN",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["vhpi", "vhpi.*"]),
    install_requires=["PyYAML>=5.3", "schema>=0.7", "pythonping>=1.1"],
    extras_require={"test": ["pytest>=7", "fusepy>=3.0.1", "ruff==0.17.6"]},
    entry_points={"console_scripts": ["vhpi = vhpi.main:main"]},
    classifiers=[
        "Environment :: Console",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Archiving :: Backup",
    ],
)
