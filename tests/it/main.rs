//! Integration tests against the emulator over real HTTP.
