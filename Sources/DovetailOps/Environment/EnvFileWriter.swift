import DovetailStore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sets and removes variables in a `.env` file, keeping every other line — comments, blank lines, `export`, quoting,
/// values spanning lines, line endings — exactly as it was.
///
/// The file is replaced atomically (a temporary file in the same directory, `fsync`, `rename`), so a crash never leaves
/// half a file, and it always ends up with mode 0600: it holds passwords. A symbolic link is followed and the file it
/// points at is replaced; as root, the file keeps its owner.
///
/// Values are written so that `EnvironmentFile`, Docker Compose, python-dotenv and a POSIX shell all read them back
/// unchanged: bare when made of plain characters, in single quotes (taken literally by all four: no `$` expansion)
/// otherwise, and in escaped double quotes only when the value itself holds a single quote or a line break.
public struct EnvFileWriter: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// What a merge did, by key; never the values.
    public struct Change: Sendable, Equatable {
        /// Keys that were not in the file and were appended.
        public var added: [String] = []
        /// Keys whose line was rewritten in place (duplicates of a key are dropped).
        public var replaced: [String] = []
        public var removed: [String] = []

        public init(added: [String] = [], replaced: [String] = [], removed: [String] = []) {
            self.added = added
            self.replaced = replaced
            self.removed = removed
        }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Sets `values` (in this order for appended keys) and writes the file; keys already present are rewritten where
    /// they stand. `header` is a comment put above appended keys.
    @discardableResult
    public func set(_ values: [(key: String, value: String)], header: String? = nil) throws(Failure) -> Change {
        let (contents, change) = Self.merge(try self.read(), setting: values, removing: [], header: header)
        try self.write(contents)
        return change
    }

    /// Removes every line that sets one of `keys`, and the comment `header` that `set` put above them (with the blank
    /// line before it); writes the file only if something was removed.
    @discardableResult
    public func remove(_ keys: [String], header: String? = nil) throws(Failure) -> Change {
        guard FileManager.default.fileExists(atPath: self.path) else { return Change() }
        let (contents, change) = Self.merge(try self.read(), setting: [], removing: Set(keys), header: header)
        if !change.removed.isEmpty { try self.write(contents) }
        return change
    }

    // MARK: Merging (pure, for tests)

    /// The new text of a file whose text was `contents`. `header` is the comment put above appended keys; when only
    /// removing, that comment is removed too.
    public static func merge(
        _ contents: String,
        setting values: [(key: String, value: String)],
        removing: Set<String>,
        header: String?
    ) -> (contents: String, change: Change) {
        let lines = Self.physicalLines(contents)
        let newline = lines.first(where: { !$0.terminator.isEmpty })?.terminator ?? "\n"
        let newValues = Dictionary(values.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        var change = Change()
        var written = Set<String>()
        var pieces: [String] = []
        let removesHeader = values.isEmpty && header != nil

        for entry in Self.entries(lines) {
            guard let key = entry.key else {
                if removesHeader, let header, entry.text.trimmingCharacters(in: .whitespacesAndNewlines) == "# \(header)" {
                    if let previous = pieces.last, previous.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                        pieces.removeLast()
                    }
                    continue
                }
                pieces.append(entry.text)
                continue
            }
            if let value = newValues[key] {
                if written.insert(key).inserted {
                    pieces.append((entry.exported ? "export " : "") + "\(key)=\(Self.formatted(value))" + entry.terminator)
                    change.replaced.append(key)
                }
            } else if removing.contains(key) {
                if !change.removed.contains(key) { change.removed.append(key) }
            } else {
                pieces.append(entry.text)
            }
        }
        var output = pieces.joined()

        let missing = values.map { $0.key }.filter { !written.contains($0) }.reduce(into: [String]()) { keys, key in
            if !keys.contains(key) { keys.append(key) }
        }
        // A last line without its line end would otherwise run into the next one.
        // (Scalars, not characters: Swift reads "\r\n" as one character, which `hasSuffix("\n")` would not match.)
        if let last = output.unicodeScalars.last, last != "\n", last != "\r" {
            output += newline
        }
        if !missing.isEmpty {
            if let header, !removesHeader {
                if !output.isEmpty, !output.hasSuffix(newline + newline), output != newline {
                    output += newline
                }
                output += "# \(header)" + newline
            }
            for key in missing {
                output += "\(key)=\(Self.formatted(newValues[key]!))" + newline
                change.added.append(key)
            }
        }
        return (output, change)
    }

    /// `value` as it is written after `KEY=`.
    public static func formatted(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (Character(scalar).isLetter || Character(scalar).isNumber || "_-./:@+,".unicodeScalars.contains(scalar))
            }
        if plain { return value }
        if !value.contains("'"), !value.contains(where: { $0.isNewline }) {
            return "'" + value + "'"
        }
        return EnvironmentFile.quoted(value)
    }

    // MARK: Reading the structure of a file

    private struct Line {
        var text: String
        /// "\n", "\r\n", "\r" or "" for a last line without one.
        var terminator: String
    }

    /// One assignment (perhaps spanning lines) or one other line (comment, blank, unparsable) kept as is.
    private struct Entry {
        var key: String?
        var exported = false
        /// The original text including line ends.
        var text: String
        var terminator: String
    }

    private static func physicalLines(_ contents: String) -> [Line] {
        var lines: [Line] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(contents.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\n" || scalar == "\r" {
                var terminator = String(scalar)
                if scalar == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" {
                    terminator = "\r\n"
                    index += 1
                }
                lines.append(Line(text: String(current), terminator: terminator))
                current = String.UnicodeScalarView()
            } else {
                current.append(scalar)
            }
            index += 1
        }
        if !current.isEmpty { lines.append(Line(text: String(current), terminator: "")) }
        return lines
    }

    /// Groups lines into entries the way `EnvironmentFile` reads them: a quoted value that is not closed on its line
    /// goes on to the line holding the closing quote.
    private static func entries(_ lines: [Line]) -> [Entry] {
        var entries: [Entry] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            guard let (key, exported, valueStart) = Self.assignment(line.text) else {
                entries.append(Entry(key: nil, text: line.text + line.terminator, terminator: line.terminator))
                index += 1
                continue
            }
            var text = line.text + line.terminator
            var last = index
            let value = line.text.unicodeScalars[valueStart...]
            if let quote = value.first, quote == "\"" || quote == "'" {
                var closed = Self.closingQuote(in: value.dropFirst(), quote: quote)
                while !closed, last + 1 < lines.count {
                    last += 1
                    text += lines[last].text + lines[last].terminator
                    closed = Self.closingQuote(in: lines[last].text.unicodeScalars[...], quote: quote)
                }
            }
            entries.append(Entry(key: key, exported: exported, text: text, terminator: lines[last].terminator))
            index = last + 1
        }
        return entries
    }

    /// `KEY=` (optionally after `export `): the key, whether it was exported, and where the value starts.
    private static func assignment(_ text: String) -> (String, Bool, String.UnicodeScalarView.Index)? {
        let scalars = text.unicodeScalars
        var index = scalars.startIndex
        func skipBlanks() {
            while index < scalars.endIndex, scalars[index] == " " || scalars[index] == "\t" { index = scalars.index(after: index) }
        }
        skipBlanks()
        var exported = false
        if scalars[index...].starts(with: "export ".unicodeScalars) || scalars[index...].starts(with: "export\t".unicodeScalars) {
            exported = true
            index = scalars.index(index, offsetBy: 7)
            skipBlanks()
        }
        let keyStart = index
        guard index < scalars.endIndex, scalars[index].isASCII, scalars[index] == "_" || Character(scalars[index]).isLetter else { return nil }
        while index < scalars.endIndex, scalars[index].isASCII,
            "_.-".unicodeScalars.contains(scalars[index]) || Character(scalars[index]).isLetter || Character(scalars[index]).isNumber
        {
            index = scalars.index(after: index)
        }
        let key = String(scalars[keyStart..<index])
        skipBlanks()
        guard index < scalars.endIndex, scalars[index] == "=" else { return nil }
        index = scalars.index(after: index)
        skipBlanks()
        return (key, exported, index)
    }

    /// Whether `text` holds the closing `quote` (a backslash escapes the next character inside double quotes).
    private static func closingQuote(in text: Substring.UnicodeScalarView, quote: Unicode.Scalar) -> Bool {
        var escaped = false
        for scalar in text {
            if escaped {
                escaped = false
            } else if quote == "\"", scalar == "\\" {
                escaped = true
            } else if scalar == quote {
                return true
            }
        }
        return false
    }

    // MARK: Files

    private var resolvedPath: String {
        URL(fileURLWithPath: self.path).resolvingSymlinksInPath().path
    }

    private func read() throws(Failure) -> String {
        let path = self.resolvedPath
        guard FileManager.default.fileExists(atPath: path) else { return "" }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read \(self.path); check that it is a readable file")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw Failure(description: "\(self.path) is not UTF-8 text; save it as UTF-8 and try again")
        }
        return text
    }

    private func write(_ contents: String) throws(Failure) {
        let target = self.resolvedPath
        let directory = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\(name).tmp-\(UUID().uuidString.prefix(8))"
        let previousOwner = SystemUser.ownerIDs(of: target)

        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Failure(description: "cannot write \(self.path): \(String(cString: strerror(errno)))")
        }
        var failure: String?
        let bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count, failure == nil {
            let result = bytes[written...].withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno != EINTR { failure = String(cString: strerror(errno)) }
            } else {
                written += result
            }
        }
        if failure == nil, fchmod(descriptor, 0o600) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil, SystemUser.isRoot, let owner = previousOwner, owner.uid != 0 || owner.gid != 0 {
            _ = fchown(descriptor, owner.uid, owner.gid)
        }
        if failure == nil, fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        close(descriptor)
        if failure == nil, rename(temporary, target) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw Failure(description: "cannot write \(self.path): \(failure)")
        }
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}

/// `write(2)`, which a method named `write` would otherwise hide.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.write(descriptor, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(descriptor, buffer, count)
    #else
    return Glibc.write(descriptor, buffer, count)
    #endif
}
