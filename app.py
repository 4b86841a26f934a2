"""The Streamlit dashboard: `streamlit run app.py -- --db PATH`, or `curate app`.

The page itself lives in the package (curate/dashboard/page.py) so that `curate app` works from
an installed wheel too; this file runs it on every Streamlit rerun.
"""
import runpy
from pathlib import Path

import curate.dashboard

runpy.run_path(str(Path(curate.dashboard.__file__).with_name("page.py")), run_name="__main__")
