//! Two serde wrappers the policy sections need: [`Patch`] (a field that may be absent,
//! removed with `null`/`none`, or set) and [`OneOrMany`] (one item or a list of them).
//!
//! Both look at the YAML value first and hand everything else to the wrapped type through
//! serde's value deserializers, so the wrapped type's own errors (unknown fields, wrong
//! types) come through unchanged, with their paths.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{
    BoolDeserializer, F64Deserializer, I128Deserializer, I64Deserializer, MapAccessDeserializer,
    SeqAccessDeserializer, StrDeserializer, StringDeserializer, U128Deserializer, U64Deserializer,
    UnitDeserializer,
};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A field of a policy as written: absent (keep what stands), removed (`null` or `none`),
/// or set. In a route or cluster definition "removed" is the same as absent; in a timeline
/// event's `set:` it clears the field.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Patch<T> {
    #[default]
    Absent,
    Remove,
    Set(T),
}

impl<T> Patch<T> {
    /// Whether the field is written at all (set or removed).
    pub fn given(&self) -> bool {
        !matches!(self, Patch::Absent)
    }

    /// The value, when set.
    pub fn set(&self) -> Option<&T> {
        match self {
            Patch::Set(t) => Some(t),
            _ => None,
        }
    }
}

/// One item, or a list of them (`mirror: { … }` or `mirror: [{ … }, { … }]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The items, as a slice.
    pub fn items(&self) -> &[T] {
        match self {
            OneOrMany::One(t) => std::slice::from_ref(t),
            OneOrMany::Many(v) => v,
        }
    }
}

/// Hands every kind of value to `T`, unchanged.
struct Forward<T>(PhantomData<T>);

impl<T> Forward<T> {
    fn new() -> Self {
        Forward(PhantomData)
    }
}

/// The `visit_*` methods for scalars, forwarding to `$to` (wrapped by `$wrap`).
macro_rules! forward_scalars {
    ($wrap:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            T::deserialize(BoolDeserializer::new(v)).map($wrap)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            T::deserialize(I64Deserializer::new(v)).map($wrap)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            T::deserialize(U64Deserializer::new(v)).map($wrap)
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
            T::deserialize(I128Deserializer::new(v)).map($wrap)
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
            T::deserialize(U128Deserializer::new(v)).map($wrap)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            T::deserialize(F64Deserializer::new(v)).map($wrap)
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            T::deserialize(StringDeserializer::new(v)).map($wrap)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map($wrap)
        }
    };
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Forward<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value")
    }

    forward_scalars!(std::convert::identity);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::deserialize(StrDeserializer::new(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::deserialize(UnitDeserializer::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::deserialize(SeqAccessDeserializer::new(seq))
    }
}

// === impl Patch ===

struct PatchVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for PatchVisitor<T> {
    type Value = Patch<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, or `null` to remove it")
    }

    forward_scalars!(Patch::Set);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Patch<T>, E> {
        if v == "none" {
            return Ok(Patch::Remove);
        }
        Forward::<T>::new().visit_str(v).map(Patch::Set)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Patch<T>, E> {
        Ok(Patch::Remove)
    }
    fn visit_none<E: de::Error>(self) -> Result<Patch<T>, E> {
        Ok(Patch::Remove)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Patch<T>, A::Error> {
        Forward::<T>::new().visit_seq(seq).map(Patch::Set)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PatchVisitor(PhantomData))
    }
}

// === impl OneOrMany ===

struct OneOrManyVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one value or a list of them")
    }

    forward_scalars!(OneOrMany::One);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany<T>, E> {
        Forward::<T>::new().visit_str(v).map(OneOrMany::One)
    }
    fn visit_unit<E: de::Error>(self) -> Result<OneOrMany<T>, E> {
        Forward::<T>::new().visit_unit().map(OneOrMany::One)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOrMany<T>, A::Error> {
        Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}

// === field names ===

/// The field names serde accepts for the struct `T` (for "this field belongs to another
/// kind of event" messages), read from its derived `Deserialize`.
pub(crate) fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Introspect(&mut fields));
    fields
}

struct Introspect<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for Introspect<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("introspected"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Probe {
        a: Patch<i64>,
        b: Patch<Vec<i64>>,
        c: Option<OneOrMany<i64>>,
    }

    fn probe(yaml: &str) -> Probe {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    #[test]
    fn patches_and_lists() {
        assert_eq!(probe("{}").a, Patch::Absent);
        assert_eq!(probe("a: ~").a, Patch::Remove);
        assert_eq!(probe("a: none").a, Patch::Remove);
        assert_eq!(probe("a: 3").a, Patch::Set(3));
        assert_eq!(probe("b: [1, 2]").b, Patch::Set(vec![1, 2]));
        assert_eq!(probe("c: 1").c, Some(OneOrMany::One(1)));
        assert_eq!(probe("c: [1]").c, Some(OneOrMany::Many(vec![1])));
        assert!(serde_yaml::from_str::<Probe>("a: x").is_err());
        assert!(serde_yaml::from_str::<Probe>("d: 1").is_err());
        assert_eq!(fields_of::<Probe>(), ["a", "b", "c"]);
    }
}
