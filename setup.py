"""Package discovery that pyproject.toml cannot say: the repository's sample_data/ folder
ships in the wheel as the package data of `curate.sample_data`, so `curate demo` and every
default file work from an installed wheel. Everything else is in pyproject.toml."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["curate", "curate.*", "train", "train.*"]) + ["curate.sample_data"],
    package_dir={"curate.sample_data": "sample_data"},
)
