import ArgumentParser

/// Entry point: `grpc-echo server …` or `grpc-echo client …`.
@main
struct GRPCEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpc-echo",
        abstract: "grpc-swift-2 echo server and load client: the baseline for LOACL's RPC benchmark.",
        subcommands: [ServerCommand.self, ClientCommand.self]
    )
}
