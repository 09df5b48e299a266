//! The allocator policy of a reader that decodes the same large snapshot over and over.
//!
//! When each read built a `Value` of many small allocations and dropped it once the clock
//! had stopped, glibc handed the freed top of the heap back to the kernel (and served
//! large blocks with fresh mmaps), so the next read page-faulted all of it in again:
//! at 10^4 entries that was half of a shared-memory read here (4.2 ms against 1.7 ms
//! with the memory kept). Reads now fill one `Doc` that the reader keeps, which allocates
//! nothing once it has held the largest snapshot; the policy stays for what still
//! allocates per read (the `mpi-bcast` receive buffer, store internals). A long-running
//! reader would tune this too, or link another allocator; docs/native-harness.md records
//! the choice.

/// Keeps freed memory in the process instead of returning it to the kernel.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ONE_GIB: libc::c_int = 1 << 30;
        // SAFETY: mallopt only sets allocator parameters; it is called before any
        // thread of ours exists. A rejected value (0 returned) leaves the defaults.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
            libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
        }
    }
}
