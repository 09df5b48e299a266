//! A message whose bytes are sent many times without being copied: ZeroMQ shares a
//! large message's content between copies by reference count (`zmq_msg_copy`). The
//! zmq crate copies bytes into every message it sends, so this goes to the C API.

use std::mem::MaybeUninit;
use std::os::raw::c_void;
use std::sync::Arc;

/// The content is an `Arc<Vec<u8>>`, also kept by the writer's snapshot server; ZeroMQ
/// drops its reference when the last copy has been sent.
pub struct SharedMsg {
    msg: zmq_sys::zmq_msg_t,
}

unsafe extern "C" fn release(_data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the Box<Arc<..>> leaked in `SharedMsg::new`, handed back exactly
    // once, by ZeroMQ, when the content's last reference goes.
    drop(unsafe { Box::from_raw(hint as *mut Arc<Vec<u8>>) });
}

impl SharedMsg {
    pub fn new(content: Arc<Vec<u8>>) -> Self {
        let (data, len) = (content.as_ptr() as *mut c_void, content.len());
        let hint = Box::into_raw(Box::new(content)) as *mut c_void;
        let mut msg = MaybeUninit::<zmq_sys::zmq_msg_t>::uninit();
        // SAFETY: `data` stays valid until `release` runs, as the leaked Arc owns it;
        // ZeroMQ only reads it. zmq_msg_init_data cannot fail for a non-null `data`.
        unsafe {
            zmq_sys::zmq_msg_init_data(msg.as_mut_ptr(), data, len, Some(release), hint);
            SharedMsg {
                msg: msg.assume_init(),
            }
        }
    }

    /// Sends one more copy (a new reference, not new bytes) on `socket`.
    pub fn send(&mut self, socket: &mut zmq::Socket, flags: i32) -> Result<(), zmq::Error> {
        let mut copy = MaybeUninit::<zmq_sys::zmq_msg_t>::uninit();
        // SAFETY: `copy` is initialised empty, then made to share `self.msg`'s content;
        // zmq_msg_send takes it over on success, and we close it on failure. The socket
        // pointer comes from a live zmq::Socket borrowed mutably for the call.
        unsafe {
            zmq_sys::zmq_msg_init(copy.as_mut_ptr());
            zmq_sys::zmq_msg_copy(copy.as_mut_ptr(), &mut self.msg);
            if zmq_sys::zmq_msg_send(copy.as_mut_ptr(), socket.as_mut_ptr(), flags) == -1 {
                let errno = zmq_sys::zmq_errno();
                zmq_sys::zmq_msg_close(copy.as_mut_ptr());
                return Err(zmq::Error::from_raw(errno));
            }
        }
        Ok(())
    }
}

impl Drop for SharedMsg {
    fn drop(&mut self) {
        // SAFETY: `self.msg` was initialised in `new` and is closed only here.
        unsafe { zmq_sys::zmq_msg_close(&mut self.msg) };
    }
}
