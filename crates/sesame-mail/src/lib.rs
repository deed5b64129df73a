//! Pure message work: DKIM keys (and later signing, MIME building, rendering, bounce
//! parsing). Performs no I/O: no sockets, no files, no database.

pub mod dkim;
