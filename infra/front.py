"""The optional front doors, which need the API's function and REST API to exist first.

* ``http_api``: an HTTP API (payload format 1.0, the REST API's event shape, which Chalice reads) routing
  only ``POST`` and ``GET /in/{source_id}`` to the API function: $1.00 per million requests instead of the
  REST API's $3.50. The management API stays on the REST API. Note: an HTTP API has no binary media types;
  it base64-encodes bodies whose Content-Type is not text, and passes text bodies as UTF-8.
* ``function_url``: a Lambda function URL on the API function (auth type NONE: each source verifies its
  senders, the publish route checks its bearer credential; CORS off: no browser calls these routes),
  serving only ``POST``/``GET /in/{source_id}`` and ``POST /v1/messages`` (``chalicelib.api.function_url``
  answers 404 to anything else): no request price at all. It gives up WAF (unless CloudFront is put in
  front) and mutual TLS: a source with an ``mtls`` rule rejects what comes this way, and stays on the REST
  API's (mTLS) domain.
* ``mtls_domain``: a regional custom domain with mutual TLS (a truststore in S3) mapped to the REST API,
  whose default ``execute-api`` endpoint is then disabled, so no request reaches Hookway without a client
  certificate the truststore accepts; each source's ``mtls`` rule then checks the subject and issuer.

``make deploy`` creates these in a third stack (``hookway-<stage>-front``) after ``chalice deploy``;
``make package`` merges them into the one template, referring to Chalice's own resources.
"""

from __future__ import annotations

from typing import Any

from chalicelib.names import Names
from infra.stack import Options

Template = dict[str, Any]


def resources(
    n: Names, opts: Options, *, rest_api_id: Any, function_arn: Any, depends_on: str = ""
) -> Template:
    """The front door resources the options ask for (none by default)."""
    out: Template = {}
    if opts.http_api:
        out["HttpApi"] = {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"Name": f"{n.prefix}-ingest", "ProtocolType": "HTTP"},
        }
        out["HttpApiIntegration"] = {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "HttpApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": function_arn,
                "PayloadFormatVersion": "1.0",
                "TimeoutInMillis": 29000,
            },
        }
        for method in ("POST", "GET"):
            out[f"HttpApiRoute{method.capitalize()}"] = {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "HttpApi"},
                    "RouteKey": f"{method} /in/{{source_id}}",
                    "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "HttpApiIntegration"}]]},
                },
            }
        out["HttpApiStage"] = {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True},
        }
        out["HttpApiInvokePermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": function_arn,
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {
                    "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/*/in/*"
                },
            },
        }
    if opts.function_url:
        # No Cors property: CORS stays off (the routes are for servers, never for a browser's page).
        out["FunctionUrl"] = {
            "Type": "AWS::Lambda::Url",
            "Properties": {"TargetFunctionArn": function_arn, "AuthType": "NONE", "InvokeMode": "BUFFERED"},
        }
        # A public function URL needs both permissions (new URLs since October 2025): the URL's own, and
        # the invocation, granted only through a function URL.
        out["FunctionUrlPermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionName": function_arn,
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
        }
        out["FunctionUrlInvokePermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": function_arn,
                "Principal": "*",
                "InvokedViaFunctionUrl": True,
            },
        }
    if opts.mtls_domain:
        out["IngestDomain"] = {
            "Type": "AWS::ApiGateway::DomainName",
            "Properties": {
                "DomainName": opts.mtls_domain,
                "RegionalCertificateArn": opts.mtls_certificate_arn,
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
                "MutualTlsAuthentication": {"TruststoreUri": opts.mtls_truststore_uri},
            },
        }
        mapping: dict[str, Any] = {
            "Type": "AWS::ApiGateway::BasePathMapping",
            "Properties": {"DomainName": {"Ref": "IngestDomain"}, "RestApiId": rest_api_id, "Stage": n.stage},
        }
        if depends_on:
            mapping["DependsOn"] = depends_on
        out["IngestDomainMapping"] = mapping
    return out


def outputs(opts: Options) -> Template:
    """Where to point providers (and DNS) when a front door option is on."""
    out: Template = {}
    if opts.http_api:
        out["HttpApiIngestUrl"] = {
            "Value": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/in/"}
        }
    if opts.function_url:
        # The URL ends with a slash: https://<id>.lambda-url.<region>.on.aws/
        out["FunctionUrlIngestUrl"] = {"Value": {"Fn::Sub": "${FunctionUrl.FunctionUrl}in/"}}
        out["FunctionUrlPublishUrl"] = {"Value": {"Fn::Sub": "${FunctionUrl.FunctionUrl}v1/messages"}}
    if opts.mtls_domain:
        out["MtlsDomainTarget"] = {"Value": {"Fn::GetAtt": ["IngestDomain", "RegionalDomainName"]}}
    return out


def template(n: Names, opts: Options, *, rest_api_id: str, function_arn: str) -> Template | None:
    """The standalone front stack ``make deploy`` creates after ``chalice deploy``, or None if not needed."""
    found = resources(n, opts, rest_api_id=rest_api_id, function_arn=function_arn)
    if not found:
        return None
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Hookway {n.stage}: optional front doors (HTTP API or function URL for ingest, mutual-TLS domain)",
        "Resources": found,
        "Outputs": outputs(opts),
    }
