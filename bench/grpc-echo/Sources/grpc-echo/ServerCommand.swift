import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// `grpc-echo server --port P`: HTTP/2 over plaintext TCP, bound to 127.0.0.1 only.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server", abstract: "Serve the echo service on 127.0.0.1.")

    @Option(help: "TCP port on 127.0.0.1.")
    var port: Int

    func run() async throws {
        let server = GRPCServer(
            transport: .http2NIOPosix(
                address: .ipv4(host: "127.0.0.1", port: port),
                transportSecurity: .plaintext
            ),
            services: [EchoService()]
        )
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            if let address = try await server.listeningAddress {
                print("grpc-echo listening on \(address)")
            }
        }
    }
}
