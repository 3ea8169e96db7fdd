//! The `eventsim` command: a thin shell over the library.

fn main() {
    std::process::exit(eventsim::cli_main());
}
