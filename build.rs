// Exposes the Python version as cfg flags (Py_3_13, ...) for the few C-API calls that
// differ between versions.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
