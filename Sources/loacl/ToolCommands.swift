import ArgumentParser
import Foundation
import LOACLClient

/// `loacl chat --tool-command NAME=CMD`: runs a local command for each call of function NAME
/// and submits what it prints as the function's output, so a person can try function tools
/// from a terminal.
///
/// The command runs with `/bin/sh -c CMD`, gets the call's arguments (JSON text) on stdin and
/// in `LOACL_TOOL_ARGUMENTS`, the function's name in `LOACL_TOOL_NAME`; its stdout (trimmed, at
/// most 64 KiB) is the output. A call of a function without a command, or a command that
/// fails, is answered with `{"error": "…"}` so the model hears about it.
struct ToolCommands: Sendable {
    let commands: [String: String]

    init(_ specs: [String]) throws {
        var commands: [String: String] = [:]
        for spec in specs {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex else {
                throw ValidationError("--tool-command must be NAME=COMMAND, not \(spec)")
            }
            commands[String(spec[..<eq])] = String(spec[spec.index(after: eq)...])
        }
        self.commands = commands
    }

    /// Runs the commands of one step and submits their outputs; the returned stream's events
    /// are not needed (the SendMessage or StreamRun stream shows the run), so it is left after
    /// the first one.
    func answer(_ step: Loacl_V1_ToolCalls, runID: String, connection: LOACLClientConnection, options: CallOptions) async throws {
        var request = Loacl_V1_SubmitToolOutputsRequest()
        request.runID = runID
        for call in step.calls {
            let output = run(call)
            Output.note("← \(call.name): \(output.prefix(200))")
            var answer = Loacl_V1_ToolOutput()
            answer.callID = call.callID
            answer.output = output
            request.outputs.append(answer)
        }
        try await Loacl_V1_MessageServiceClient(connection).submitToolOutputs(request, options: options) { events in
            for try await _ in events { break }
        }
    }

    private func run(_ call: Loacl_V1_ToolCall) -> String {
        guard let command = commands[call.name] else {
            return #"{"error": "no --tool-command for \#(call.name)"}"#
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        var environment = ProcessInfo.processInfo.environment
        environment["LOACL_TOOL_NAME"] = call.name
        environment["LOACL_TOOL_ARGUMENTS"] = call.argumentsJson
        process.environment = environment
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        do {
            try process.run()
            input.fileHandleForWriting.write(Data(call.argumentsJson.utf8))
            try? input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                return #"{"error": "the command exited with status \#(process.terminationStatus)"}"#
            }
            let text = String(decoding: data.prefix(64 * 1024), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text
        } catch {
            return #"{"error": "the command could not run: \#(error)"}"#
        }
    }
}
