//! The sink that builds nothing.

use super::array::Dtype;
use super::error::DecodeError;
use super::sink::Sink;

/// A sink that builds nothing: walking with it validates a value and finds its end.
pub struct Skip;

impl<'a> Sink<'a> for Skip {
    type Value = ();
    type Key = ();
    type Seq = ();
    type Map = ();
    type Error = DecodeError;

    fn none(&mut self) -> Result<(), DecodeError> {
        Ok(())
    }
    fn bool(&mut self, _: bool) -> Result<(), DecodeError> {
        Ok(())
    }
    fn int(&mut self, _: i64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn big_int(&mut self, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn float(&mut self, _: f64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn str(&mut self, _: &'a str, _: bool, _: Option<u32>) -> Result<(), DecodeError> {
        Ok(())
    }
    fn bytes(&mut self, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn array(&mut self, _: Dtype, _: &[usize], _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn scalar(&mut self, _: Dtype, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn pickle(&mut self, _: &'a [u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn int_key(&mut self, _: i64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn seq(&mut self, _: usize, _: bool) -> Result<(), DecodeError> {
        Ok(())
    }
    fn seq_push(&mut self, _: &mut (), _: usize, _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn seq_end(&mut self, _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn map(&mut self, _: usize) -> Result<(), DecodeError> {
        Ok(())
    }
    fn key(&mut self, _: &'a str, _: bool, _: Option<u32>) -> Result<(), DecodeError> {
        Ok(())
    }
    fn map_insert(&mut self, _: &mut (), _: (), _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn map_end(&mut self, _: ()) -> Result<(), DecodeError> {
        Ok(())
    }
}
