// Stands in for the `p3fs_component_type.o` that wit-bindgen writes: the
// generated bindings reference this symbol to force that object into the
// link. Strata's tests embed the world's type with wit-component instead
// (see tests/common/guest.rs), so only the symbol is needed here.
void __component_type_object_force_link_p3fs(void) {}
