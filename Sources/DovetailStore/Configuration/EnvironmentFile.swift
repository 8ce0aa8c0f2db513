import Foundation

/// Reads `.env` files, the way people already write them for Docker Compose and python-dotenv, so an
/// existing file keeps working when a deployment switches to Dovetail.
///
/// Values are taken literally (no `$VAR` expansion): passwords often contain `$`, and expanding it
/// would silently change them. Errors name the file and the line, never the line's text.
public enum EnvironmentFile {
    /// A missing file is not an error: the `.env` file is optional, and defaults apply without it.
    public static func load(path: String) throws(ConfigurationError) -> [String: String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [:] }
        if isDirectory.boolValue {
            throw .environmentFile(path: path, problem: "is a directory, not a file; remove it or replace it with a KEY=value file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .environmentFile(path: path, problem: "cannot be read; check that it is readable by this user")
        }
        guard let contents = String(validating: data, as: UTF8.self) else {
            throw .environmentFile(path: path, problem: "is not valid UTF-8 text; save it as UTF-8")
        }
        return try parse(contents, path: path)
    }

    /// Parses the text of an environment file; `path` is used only to name the file in errors.
    ///
    /// Accepted: `KEY=value`, `export KEY=value`, blank lines, `#` comments, `'single'` (literal) and
    /// `"double"` quoted values (with `\n`, `\"`, `\\`, `\t`, `\r` escapes; both may span lines), and
    /// ` # comments` after unquoted values. A `#` not preceded by a space belongs to the value, so
    /// `PASSWORD=abc#123` keeps its `#`. A key given twice keeps its last value, as shells do.
    public static func parse(_ contents: String, path: String) throws(ConfigurationError) -> [String: String] {
        var parser = Parser(scalars: Array(contents.unicodeScalars), path: path)
        return try parser.parse()
    }

    /// `value` in double quotes with the escapes `parse` understands, so that any value — a password
    /// with quotes, spaces, `#`, `$` or newlines — written with it reads back unchanged.
    public static func quoted(_ value: String) -> String {
        var result = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Works on Unicode scalars, not `Character`s: Swift treats "\r\n" as one character, which would
    /// hide line ends from a character-by-character scan.
    private struct Parser {
        let scalars: [Unicode.Scalar]
        let path: String
        var index = 0
        var line = 1

        init(scalars: [Unicode.Scalar], path: String) {
            self.scalars = scalars
            self.path = path
            // A byte-order mark written by some editors would otherwise become part of the first key.
            if scalars.first == "\u{FEFF}" { index = 1 }
        }

        private var current: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        private static func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

        private static func isKeyStart(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (scalar == "_" || Character(scalar).isLetter)
        }

        private static func isKeyCharacter(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (scalar == "_" || scalar == "." || scalar == "-" || Character(scalar).isLetter || Character(scalar).isNumber)
        }

        private mutating func skipBlanks() {
            while let scalar = current, Self.isBlank(scalar) { index += 1 }
        }

        /// Consumes the rest of the line including its end; "\r\n" and "\r" count as one line end.
        private mutating func skipToNextLine() {
            while let scalar = current {
                index += 1
                if scalar == "\n" {
                    line += 1
                    return
                }
                if scalar == "\r" {
                    if current == "\n" { index += 1 }
                    line += 1
                    return
                }
            }
        }

        private var atLineEnd: Bool { current == nil || current == "\n" || current == "\r" }

        private func error(line: Int, _ problem: String) -> ConfigurationError {
            .environmentFile(path: path, line: line, problem: problem)
        }

        mutating func parse() throws(ConfigurationError) -> [String: String] {
            var values: [String: String] = [:]
            while current != nil {
                skipBlanks()
                if atLineEnd || current == "#" {
                    skipToNextLine()
                    continue
                }
                let (key, value) = try parseAssignment()
                values[key] = value
            }
            return values
        }

        private mutating func parseAssignment() throws(ConfigurationError) -> (String, String) {
            let startLine = line
            if matches("export"), index + 6 < scalars.count, Self.isBlank(scalars[index + 6]) {
                index += 6
                skipBlanks()
            }
            let keyStart = index
            guard let first = current, Self.isKeyStart(first) else {
                throw error(line: startLine, "expected KEY=value, with a key made of letters, digits and '_' (the line is not shown)")
            }
            while let scalar = current, Self.isKeyCharacter(scalar) { index += 1 }
            var key = ""
            key.unicodeScalars.append(contentsOf: scalars[keyStart..<index])
            skipBlanks()
            guard current == "=" else {
                throw error(line: startLine, "expected KEY=value, but there is no '=' after the key (the line is not shown)")
            }
            index += 1
            skipBlanks()

            let value: String
            switch current {
            case "\"":
                value = try parseQuoted(closing: "\"", escapes: true, key: key, startLine: startLine)
            case "'":
                value = try parseQuoted(closing: "'", escapes: false, key: key, startLine: startLine)
            default:
                value = parseUnquoted()
            }
            skipToNextLine()
            return (key, value)
        }

        private func matches(_ word: String) -> Bool {
            var position = index
            for scalar in word.unicodeScalars {
                guard position < scalars.count, scalars[position] == scalar else { return false }
                position += 1
            }
            return true
        }

        /// Up to the end of the line or a `#` that follows a blank, minus trailing blanks.
        private mutating func parseUnquoted() -> String {
            var value = String.UnicodeScalarView()
            var previous: Unicode.Scalar?
            while let scalar = current, !atLineEnd {
                if scalar == "#", let previous, Self.isBlank(previous) { break }
                value.append(scalar)
                previous = scalar
                index += 1
            }
            while let last = value.last, Self.isBlank(last) { value.removeLast() }
            return String(value)
        }

        private mutating func parseQuoted(closing: Unicode.Scalar, escapes: Bool, key: String, startLine: Int) throws(ConfigurationError) -> String {
            index += 1
            var value = String.UnicodeScalarView()
            while true {
                guard let scalar = current else {
                    throw error(line: startLine, "the value of \(key) has no closing \(closing) quote")
                }
                index += 1
                if scalar == closing { break }
                if scalar == "\n" || (scalar == "\r" && current != "\n") { line += 1 }
                if escapes, scalar == "\\", let next = current {
                    index += 1
                    switch next {
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    case "r": value.append("\r")
                    case "\"", "\\": value.append(next)
                    default:
                        // Unknown escapes stay as written, so a Windows path or a regex survives.
                        value.append(scalar)
                        value.append(next)
                        if next == "\n" { line += 1 }
                    }
                    continue
                }
                value.append(scalar)
            }
            skipBlanks()
            if current == "#" {
                while !atLineEnd { index += 1 }
            }
            guard atLineEnd else {
                throw error(
                    line: line,
                    "unexpected text after the closing quote of \(key)'s value; quote the whole value or add ' #' before a comment"
                )
            }
            return String(value)
        }
    }
}
