"""The Streamlit dashboard: `streamlit run app.py -- --db PATH`, or `curate app`.

The dashboard itself lives in the package (curate/dashboard/page.py, the frame and the
st.navigation router; curate/dashboard/views/, one module a page) so that `curate app` works
from an installed wheel too. Importing it (once per process) rather than running the file keeps
a rerun from compiling the page again; `main()` draws it on every Streamlit rerun.
"""
from curate.dashboard.page import main

main()
