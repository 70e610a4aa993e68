import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LOACLCore
import LOACLMessages
import LOACLTestKeys
import NIOConcurrencyHelpers
import Testing

/// PostgreSQL restarted under a stream of writes, on a throwaway cluster of its own
/// (scripts/local-postgres.sh with a private folder and port; needs root, as the script does).
@Suite("PostgreSQL restart during writes", .enabled(if: getuid() == 0))
struct DatabaseRestartTests {
    final class ThrowawayCluster: Sendable {
        let directory: String
        let port: Int

        init() async throws {
            directory = "/tmp/lpg-" + UUID().uuidString.prefix(6).lowercased()
            // Below the ephemeral range (32768–60999), where a client socket could hold it.
            port = 31_000 + Int.random(in: 0..<700)
            try await run("start")
        }

        var cluster: PGCluster { PGCluster(host: directory + "/run", port: String(port), superuser: "postgres") }

        /// Runs `scripts/local-postgres.sh <command>` for this cluster, on a thread of its own
        /// (initdb, start and stop take seconds; the writers' tasks share the cooperative pool).
        func run(_ command: String) async throws {
            let directory = self.directory, port = self.port
            try await onOwnThread { try Self.run(command, directory: directory, port: port) }
        }

        /// Blocking. posix_spawn + waitpid rather than Foundation's Process, whose wait does not
        /// return while the server that `start` leaves running still holds inherited descriptors.
        private static func run(_ command: String, directory: String, port: Int) throws {
            let script = PGCluster.repositoryRoot.appendingPathComponent("scripts/local-postgres.sh").path
            let arguments = ["/bin/bash", script, command]
            var environment = ProcessInfo.processInfo.environment
            environment["LOACL_PG_DIR"] = directory
            environment["LOACL_PG_PORT"] = String(port)
            environment["LOACL_PG_TEST"] = "1"
            let argv = arguments.map { strdup($0) } + [nil]
            let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { (argv + envp).forEach { free($0) } }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            // Nothing else of this process: the server the script starts lives on, and with it
            // every socket it inherited (NIO accepts without CLOEXEC), so other tests' peers
            // would wait in vain for those connections to close.
            _ = Self.closeFrom(&actions, 3)
            var pid: pid_t = 0
            guard posix_spawn(&pid, "/bin/bash", &actions, nil, argv, envp) == 0 else {
                throw RPCError.internal("cannot run local-postgres.sh")
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            guard status == 0 else { throw RPCError.internal("local-postgres.sh \(command) failed (\(status))") }
        }

        /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which the Glibc module
        /// does not export.
        private static let closeFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
                fatalError("glibc without posix_spawn_file_actions_addclosefrom_np")
            }
            return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

        func destroy() async {
            try? await run("stop")
            let directory = self.directory
            await onOwnThread { _ = try? FileManager.default.removeItem(atPath: directory) }
        }
    }

    @Test func unavailableWhileDownRecoversAndKeepsEveryAcknowledgedWrite() async throws {
        let throwaway = try await ThrowawayCluster()
        let h: Harness
        do {
            h = try await Harness.start(cluster: throwaway.cluster, acquireTimeout: .seconds(2))
        } catch {
            await throwaway.destroy()
            throw error
        }
        do {
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (guest, _) = try await h.startGuest(assistant.id)

            struct Log { var acknowledged: [String] = []; var failures: [StatusCode] = []; var successesAfterRestart = 0 }
            let log = NIOLockedValueBox(Log())
            let restarted = NIOLockedValueBox(false)
            let stop = NIOLockedValueBox(false)
            let writers = (0..<3).map { writer in
                Task {
                    var i = 0
                    while !stop.withLockedValue({ $0 }) {
                        i += 1
                        do {
                            let thread = try await h.createThread(guest, title: "w\(writer)-\(i)")
                            let after = restarted.withLockedValue { $0 }
                            log.withLockedValue {
                                $0.acknowledged.append(thread.id)
                                if after { $0.successesAfterRestart += 1 }
                            }
                        } catch let error as RPCError {
                            log.withLockedValue { $0.failures.append(error.code) }
                            try? await Task.sleep(for: .milliseconds(20))
                        } catch {
                            log.withLockedValue { $0.failures.append(.unknown) }
                        }
                    }
                }
            }
            func waitFor(_ condition: (Log) -> Bool) async {
                for _ in 0..<1000 where !log.withLockedValue({ condition($0) }) {
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
            await waitFor { $0.acknowledged.count >= 30 }
            try await throwaway.run("stop")
            await waitFor { $0.failures.count >= 5 }
            try await throwaway.run("start")
            restarted.withLockedValue { $0 = true }
            await waitFor { $0.successesAfterRestart >= 30 }
            stop.withLockedValue { $0 = true }
            for writer in writers { await writer.value }

            let result = log.withLockedValue { $0 }
            #expect(result.failures.count >= 5)
            // UNAVAILABLE: nothing was committed. UNKNOWN: the connection broke while the COMMIT
            // was on its way (rare: the stop has to land in that round trip), so the write may
            // or may not be there; either way it was not acknowledged.
            #expect(result.failures.contains(.unavailable))
            #expect(result.failures.allSatisfy { $0 == .unavailable || $0 == .unknown }, "\(Set(result.failures.map(\.name)))")
            #expect(result.successesAfterRestart >= 30, "recovered without restarting the server")
            let stored = Set(try await h.superuser("SELECT id::text FROM loacl.threads").rows.compactMap { $0[0] })
            let missing = result.acknowledged.filter { !stored.contains($0) }
            #expect(missing.isEmpty, "acknowledged but lost: \(missing)")
        } catch {
            await h.stop()
            await throwaway.destroy()
            throw error
        }
        await h.stop()
        await throwaway.destroy()
    }
}
