import ArgumentParser

/// `loacld`: the LOACL server. `loacld serve` (the default) runs it; `loacld migrate` applies
/// database migrations.
@main
struct Loacld: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loacld",
        abstract: "LOACL RPC server: assistant chat over a gRPC-style protocol on TCP, TLS and Unix sockets.",
        subcommands: [Serve.self, Migrate.self],
        defaultSubcommand: Serve.self
    )
}
