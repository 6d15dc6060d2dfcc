# Renders every template of a BOSH job the way bosh-template's EvaluationContext does:
# p (manifest value, else the job spec's default, else an error), p with a fallback, if_p,
# spec.*, link(...).instances / .address / .p, if_link. Usage:
#   ruby render.rb JOB_DIR CONTEXT_JSON OUT_DIR
# A template that raises fails the whole render with "template <name>: <message>" (exit 1).
require 'erb'
require 'json'
require 'yaml'
require 'fileutils'
require 'ostruct'

class UnknownProperty < StandardError; end

def dig(hash, name)
  name.split('.').reduce(hash) { |node, key| node.is_a?(Hash) ? node[key] : nil }
end

class LinkInstance < OpenStruct; end

class Link
  attr_reader :instances, :address

  def initialize(data)
    @instances = (data['instances'] || []).map { |i| LinkInstance.new(i) }
    @address = data['address']
    @properties = data['properties'] || {}
  end

  def p(name, *fallback)
    value = dig(@properties, name)
    return value unless value.nil?
    return fallback.first unless fallback.empty?
    raise UnknownProperty, "Can't find link property '#{name}'"
  end
end

class Context
  attr_reader :spec

  def initialize(job_spec, context)
    @defaults = {}
    (job_spec['properties'] || {}).each { |name, d| @defaults[name] = d['default'] if d.key?('default') }
    @properties = context['properties'] || {}
    @spec = OpenStruct.new(context['spec'] || {})
    @links = context['links'] || {}
  end

  def lookup(name)
    value = dig(@properties, name)
    value.nil? ? @defaults[name] : value
  end

  def p(*args)
    names = Array(args[0])
    names.each do |name|
      value = lookup(name)
      return value unless value.nil?
    end
    return args[1] if args.length > 1
    raise UnknownProperty, "Can't find property '#{names.inspect}'"
  end

  def if_p(*names)
    values = names.map { |name| lookup(name) }
    return if values.any?(&:nil?)
    yield(*values)
  end

  def link(name)
    data = @links[name]
    raise UnknownProperty, "Can't find link '#{name}'" if data.nil?
    Link.new(data)
  end

  def if_link(name)
    yield link(name) if @links.key?(name)
  end

  def render(text)
    ERB.new(text, trim_mode: '-').result(binding)
  end
end

job_dir, context_path, out_dir = ARGV
job_spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
context = Context.new(job_spec, JSON.parse(File.read(context_path)))
outputs = {}
sources = (job_spec['templates'] || {}).to_a + [['../monit', 'monit']]
sources.each do |source, destination|
  begin
    outputs[destination] = context.render(File.read(File.join(job_dir, 'templates', source)))
  rescue StandardError => e
    warn "template #{source}: #{e.message}"
    exit 1
  end
end
outputs.each do |destination, text|
  path = File.join(out_dir, destination)
  FileUtils.mkdir_p(File.dirname(path))
  File.write(path, text)
  File.chmod(destination.start_with?('bin/') ? 0o755 : 0o644, path)
end
