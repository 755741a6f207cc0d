//! The C interface of msix-policy. Two calls cover what QEMU and libvirt need, with JSON in and
//! out so that the C side stays small and the shapes are the documented, versioned ones:
//!
//! - [`msix_policy_plan_layout`]: the VMM entry point. A plan input (`msix-policy/plan-input/v1`:
//!   config bytes, VFIO region info, page size, isolation attestation) to a guest BAR layout
//!   (`msix-policy/layout/v1`: memory slots, trap ranges and handlers, the guest's MSI-X
//!   capability). No I/O.
//! - [`msix_policy_audit`]: every PCI function of a root (`/` or a recorded host) decided
//!   (`msix-policy/audit/v1`).
//!
//! Ownership: every string the library returns through an out-parameter is allocated by the
//! library and must be released with [`msix_policy_free`], exactly once; strings passed in stay
//! the caller's. No call keeps a pointer after it returns. A panic never crosses the boundary:
//! it is caught and reported as [`MsixPolicyStatus::Internal`].
//!
//! The FFI boundary is, with the ioctl and mmap wrappers, the only place this project uses
//! `unsafe`: reading the caller's C strings and writing the caller's out-pointers.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use msix_policy::policy::MAX_INPUT_BYTES;
use msix_policy::policy::{plan_layout, VmmInput, LAYOUT_VERSION};
use msix_policy::{audit, render, AuditOptions};

/// What a call returns.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsixPolicyStatus {
    /// Success: the out-parameter holds the result.
    Ok = 0,
    /// A required pointer was NULL or a string was not UTF-8.
    InvalidArgument = 1,
    /// The input was read but is not valid (bad JSON, impossible facts, missing root, an
    /// override that would loosen a decision): the error string names the field.
    BadInput = 2,
    /// A bug in msix-policy (a caught panic). Please report it with the input.
    Internal = 3,
}

/// The layout version this library produces (the `layout_version` of its layouts).
#[no_mangle]
pub extern "C" fn msix_policy_layout_version() -> u32 {
    LAYOUT_VERSION
}

/// The library's version, a static NUL-terminated string (do not free it).
#[no_mangle]
pub extern "C" fn msix_policy_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Lays out one device. `input_json` is a NUL-terminated plan input. On success `*layout_json`
/// receives the layout as NUL-terminated JSON; on failure `*error` (if `error` is not NULL)
/// receives a one-line message. Free either with `msix_policy_free`.
///
/// # Safety
/// `input_json` must be NULL or point to a NUL-terminated string; `layout_json` and `error`
/// must be NULL or point to writable `char *` storage.
#[no_mangle]
pub unsafe extern "C" fn msix_policy_plan_layout(
    input_json: *const c_char,
    layout_json: *mut *mut c_char,
    error: *mut *mut c_char,
) -> MsixPolicyStatus {
    // SAFETY: the caller guarantees `input_json` is NULL or a NUL-terminated string.
    let input = unsafe { read_bounded_str(input_json, MAX_INPUT_BYTES) };
    // SAFETY: the caller guarantees the out-pointers are NULL or writable.
    unsafe {
        finish(layout_json, error, || {
            let text = match input {
                CInput::Null => return Err((MsixPolicyStatus::InvalidArgument, "input_json is NULL".into())),
                CInput::NotUtf8 => return Err((MsixPolicyStatus::BadInput, "input_json is not UTF-8".into())),
                CInput::TooLong => {
                    let e = msix_policy::policy::InputError::TooLarge(MAX_INPUT_BYTES + 1);
                    return Err((MsixPolicyStatus::BadInput, e.to_string()));
                }
                CInput::Text(t) => t,
            };
            let input = VmmInput::from_json(text)
                .map_err(|e| (MsixPolicyStatus::BadInput, format!("not a plan input: {e}")))?;
            let layout = plan_layout(&input).map_err(|e| (MsixPolicyStatus::BadInput, e.to_string()))?;
            serde_json::to_string(&layout).map_err(|e| (MsixPolicyStatus::Internal, e.to_string()))
        })
    }
}

/// Audits every PCI function under `root` (`"/"` or a recorded fixture directory). On success
/// `*report_json` receives the audit (`msix-policy/audit/v1`) as NUL-terminated JSON; on failure
/// `*error` (if not NULL) receives a one-line message. Free either with `msix_policy_free`.
///
/// # Safety
/// `root` must be NULL or point to a NUL-terminated string; `report_json` and `error` must be
/// NULL or point to writable `char *` storage.
#[no_mangle]
pub unsafe extern "C" fn msix_policy_audit(
    root: *const c_char,
    report_json: *mut *mut c_char,
    error: *mut *mut c_char,
) -> MsixPolicyStatus {
    // SAFETY: the caller guarantees `root` is NULL or a NUL-terminated string.
    let root = unsafe { read_str(root) };
    // SAFETY: the caller guarantees the out-pointers are NULL or writable.
    unsafe {
        finish(report_json, error, || {
            let root = root.ok_or((MsixPolicyStatus::InvalidArgument, "root is NULL or not UTF-8".into()))?;
            let report =
                audit(root, &AuditOptions::default()).map_err(|e| (MsixPolicyStatus::BadInput, e.to_string()))?;
            serde_json::to_string(&render::json_report(&report))
                .map_err(|e| (MsixPolicyStatus::Internal, e.to_string()))
        })
    }
}

/// Releases a string this library returned. NULL is ignored.
///
/// # Safety
/// `s` must be NULL or a pointer this library returned through an out-parameter and not yet
/// freed.
#[no_mangle]
pub unsafe extern "C" fn msix_policy_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: `s` came from `CString::into_raw` in `finish` and is freed once (caller's contract).
        drop(unsafe { CString::from_raw(s) });
    }
}

/// A C string read at most `limit` bytes far.
enum CInput<'a> {
    Null,
    NotUtf8,
    /// No NUL within `limit` bytes: no plan input is that long.
    TooLong,
    Text(&'a str),
}

/// Reads a NUL-terminated string, but never more than `limit` bytes of it: an input without a
/// NUL in reach is refused instead of scanned to its end.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the call.
unsafe fn read_bounded_str<'a>(p: *const c_char, limit: usize) -> CInput<'a> {
    if p.is_null() {
        return CInput::Null;
    }
    let mut len = 0;
    loop {
        if len > limit {
            return CInput::TooLong;
        }
        // SAFETY: bytes 0..len are not NUL, so the string (NUL-terminated by the caller's
        // contract) extends at least to `len`: this reads no further than its NUL.
        if unsafe { *p.add(len) } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: `p` points to `len` readable bytes (checked above) that outlive the call.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_or(CInput::NotUtf8, CInput::Text)
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the call.
unsafe fn read_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Runs `f` without letting a panic cross the boundary, and hands its result or error out.
///
/// # Safety
/// `out` and `error` are NULL or writable `char *` storage.
unsafe fn finish(
    out: *mut *mut c_char,
    error: *mut *mut c_char,
    f: impl FnOnce() -> Result<String, (MsixPolicyStatus, String)>,
) -> MsixPolicyStatus {
    let result = catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err((MsixPolicyStatus::Internal, "msix-policy panicked: please report the input".into())));
    let to_c = |s: String| CString::new(s.replace('\0', " ")).map_or(std::ptr::null_mut(), CString::into_raw);
    match result {
        Ok(text) if !out.is_null() => {
            // SAFETY: `out` is non-NULL and writable by the caller's contract.
            unsafe { *out = to_c(text) };
            MsixPolicyStatus::Ok
        }
        Ok(_) => {
            // SAFETY: as above, for `error`.
            unsafe { set_error(error, "the out-parameter for the result is NULL".into(), &to_c) };
            MsixPolicyStatus::InvalidArgument
        }
        Err((status, msg)) => {
            // SAFETY: as above, for `error`.
            unsafe { set_error(error, msg, &to_c) };
            status
        }
    }
}

/// # Safety
/// `error` is NULL or writable `char *` storage.
unsafe fn set_error(error: *mut *mut c_char, msg: String, to_c: &dyn Fn(String) -> *mut c_char) {
    if !error.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { *error = to_c(msg) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the C entry point as a C caller would; the status, and the error or layout text.
    fn plan(input: &[u8]) -> (MsixPolicyStatus, String) {
        let c = CString::new(input).unwrap();
        let (mut out, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: a NUL-terminated string and two writable out-pointers, as the contract asks.
        let status = unsafe { msix_policy_plan_layout(c.as_ptr(), &mut out, &mut err) };
        let p = if out.is_null() { err } else { out };
        // SAFETY: `p` is NULL or a string this library returned, freed once below.
        let text = if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into() };
        // SAFETY: each came from this library and is freed once.
        unsafe {
            msix_policy_free(out);
            msix_policy_free(err);
        }
        (status, text)
    }

    #[test]
    fn bad_plan_inputs_are_status_2_with_the_field_named() {
        let (s, e) = plan(br#"{"schema":"msix-policy/plan-input/v1","config":"00","regions":[],"page_size":4096,"isolation":{"kind":"kernel-accepted","backend":"type1","allow_unsafe_interrupts":false},"relocaton":{}}"#);
        assert_eq!((s as i32, e.contains("unknown field `relocaton`")), (2, true), "{e}");
        let (s, e) = plan(br#"{"config":"00"}"#);
        assert_eq!((s as i32, e.contains("schema (missing)")), (2, true), "{e}");
        let (s, e) = plan(b"not json");
        assert_eq!(s, MsixPolicyStatus::BadInput, "{e}");
        // No NUL within the bound: refused without scanning on.
        let long = vec![b' '; MAX_INPUT_BYTES + 2];
        let (s, e) = plan(&long);
        assert_eq!((s, e.contains("over the")), (MsixPolicyStatus::BadInput, true), "{e}");
    }
}
